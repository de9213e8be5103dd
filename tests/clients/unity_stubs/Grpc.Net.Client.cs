// API stand-in for Grpc.Net.Client 2.x: GrpcChannel and the options the Unity package sets.
using System;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using Grpc.Core;

namespace Grpc.Net.Client
{
    public sealed class GrpcChannelOptions
    {
        public GrpcChannelOptions() { throw null; }
        public int? MaxSendMessageSize { get { throw null; } set { throw null; } }
        public int? MaxReceiveMessageSize { get { throw null; } set { throw null; } }
        public int? MaxRetryAttempts { get { throw null; } set { throw null; } }
        public HttpClient HttpClient { get { throw null; } set { throw null; } }
        public HttpMessageHandler HttpHandler { get { throw null; } set { throw null; } }
        public bool DisposeHttpClient { get { throw null; } set { throw null; } }
        public bool ThrowOperationCanceledOnCancellation { get { throw null; } set { throw null; } }
    }

    public sealed class GrpcChannel : ChannelBase, IDisposable
    {
        private GrpcChannel() : base(null) { }
        public override CallInvoker CreateCallInvoker() { throw null; }
        public static GrpcChannel ForAddress(string address) { throw null; }
        public static GrpcChannel ForAddress(string address, GrpcChannelOptions channelOptions) { throw null; }
        public static GrpcChannel ForAddress(Uri address) { throw null; }
        public static GrpcChannel ForAddress(Uri address, GrpcChannelOptions channelOptions) { throw null; }
        public Task ConnectAsync(CancellationToken cancellationToken = default(CancellationToken)) { throw null; }
        public void Dispose() { throw null; }
    }
}
