// BridgeGrpc.cs: the typed client of service lpm.bridge.v1.Bridge, written by hand.
//
// grpc_csharp_plugin would generate this file, but Debian ships no such plugin, so it is
// kept by hand in the same shape (class Lpm.Bridge.V1.Bridge.BridgeClient, the same method
// names and overloads): code written against it also compiles against the plugin's output.
// Each rpc is a Method<TRequest, TResponse> descriptor whose marshallers are the protobuf
// messages' own ToByteArray / Parser.ParseFrom. tests/clients/test_unity_package.py checks
// that every rpc in bridge.proto is here with the right streaming kind.
using System;
using System.Threading;
using Google.Protobuf;
using Grpc.Core;

namespace Lpm.Bridge.V1
{
    /// <summary>The lpm-bridge daemon: live performances plus a small avatar store.</summary>
    public static partial class Bridge
    {
        private const string ServiceName = "lpm.bridge.v1.Bridge";

        private static Marshaller<T> MarshallerOf<T>(MessageParser<T> parser) where T : IMessage<T>
        {
            return Marshallers.Create((T message) => message.ToByteArray(), parser.ParseFrom);
        }

        private static readonly Method<PerformRequest, PerformResponse> PerformMethod =
            new Method<PerformRequest, PerformResponse>(
                MethodType.DuplexStreaming, ServiceName, "Perform",
                MarshallerOf(PerformRequest.Parser), MarshallerOf(PerformResponse.Parser));

        private static readonly Method<RegisterAvatarRequest, Avatar> RegisterAvatarMethod =
            new Method<RegisterAvatarRequest, Avatar>(
                MethodType.Unary, ServiceName, "RegisterAvatar",
                MarshallerOf(RegisterAvatarRequest.Parser), MarshallerOf(Avatar.Parser));

        private static readonly Method<ListAvatarsRequest, ListAvatarsResponse> ListAvatarsMethod =
            new Method<ListAvatarsRequest, ListAvatarsResponse>(
                MethodType.Unary, ServiceName, "ListAvatars",
                MarshallerOf(ListAvatarsRequest.Parser), MarshallerOf(ListAvatarsResponse.Parser));

        private static readonly Method<DeleteAvatarRequest, DeleteAvatarResponse> DeleteAvatarMethod =
            new Method<DeleteAvatarRequest, DeleteAvatarResponse>(
                MethodType.Unary, ServiceName, "DeleteAvatar",
                MarshallerOf(DeleteAvatarRequest.Parser), MarshallerOf(DeleteAvatarResponse.Parser));

        private static readonly Method<GetServerInfoRequest, ServerInfo> GetServerInfoMethod =
            new Method<GetServerInfoRequest, ServerInfo>(
                MethodType.Unary, ServiceName, "GetServerInfo",
                MarshallerOf(GetServerInfoRequest.Parser), MarshallerOf(ServerInfo.Parser));

        /// <summary>Client for lpm.bridge.v1.Bridge over any channel (GrpcChannel in Unity).</summary>
        public partial class BridgeClient : ClientBase<BridgeClient>
        {
            public BridgeClient(ChannelBase channel) : base(channel) { }

            public BridgeClient(CallInvoker callInvoker) : base(callInvoker) { }

            protected BridgeClient() : base() { }

            protected BridgeClient(ClientBaseConfiguration configuration) : base(configuration) { }

            /// <summary>One NPC's live performance: SessionConfig first, then audio and markers.</summary>
            public virtual AsyncDuplexStreamingCall<PerformRequest, PerformResponse> Perform(
                Metadata headers = null, DateTime? deadline = null,
                CancellationToken cancellationToken = default(CancellationToken))
            {
                return Perform(new CallOptions(headers, deadline, cancellationToken));
            }

            public virtual AsyncDuplexStreamingCall<PerformRequest, PerformResponse> Perform(CallOptions options)
            {
                return CallInvoker.AsyncDuplexStreamingCall(PerformMethod, null, options);
            }

            /// <summary>Encode a portrait once and keep it; replies once every compute process has it.</summary>
            public virtual Avatar RegisterAvatar(
                RegisterAvatarRequest request, Metadata headers = null, DateTime? deadline = null,
                CancellationToken cancellationToken = default(CancellationToken))
            {
                return RegisterAvatar(request, new CallOptions(headers, deadline, cancellationToken));
            }

            public virtual Avatar RegisterAvatar(RegisterAvatarRequest request, CallOptions options)
            {
                return CallInvoker.BlockingUnaryCall(RegisterAvatarMethod, null, options, request);
            }

            public virtual AsyncUnaryCall<Avatar> RegisterAvatarAsync(
                RegisterAvatarRequest request, Metadata headers = null, DateTime? deadline = null,
                CancellationToken cancellationToken = default(CancellationToken))
            {
                return RegisterAvatarAsync(request, new CallOptions(headers, deadline, cancellationToken));
            }

            public virtual AsyncUnaryCall<Avatar> RegisterAvatarAsync(RegisterAvatarRequest request, CallOptions options)
            {
                return CallInvoker.AsyncUnaryCall(RegisterAvatarMethod, null, options, request);
            }

            /// <summary>Every stored avatar, the built-in default first.</summary>
            public virtual ListAvatarsResponse ListAvatars(
                ListAvatarsRequest request, Metadata headers = null, DateTime? deadline = null,
                CancellationToken cancellationToken = default(CancellationToken))
            {
                return ListAvatars(request, new CallOptions(headers, deadline, cancellationToken));
            }

            public virtual ListAvatarsResponse ListAvatars(ListAvatarsRequest request, CallOptions options)
            {
                return CallInvoker.BlockingUnaryCall(ListAvatarsMethod, null, options, request);
            }

            public virtual AsyncUnaryCall<ListAvatarsResponse> ListAvatarsAsync(
                ListAvatarsRequest request, Metadata headers = null, DateTime? deadline = null,
                CancellationToken cancellationToken = default(CancellationToken))
            {
                return ListAvatarsAsync(request, new CallOptions(headers, deadline, cancellationToken));
            }

            public virtual AsyncUnaryCall<ListAvatarsResponse> ListAvatarsAsync(ListAvatarsRequest request, CallOptions options)
            {
                return CallInvoker.AsyncUnaryCall(ListAvatarsMethod, null, options, request);
            }

            /// <summary>Forget a stored avatar (NOT_FOUND if unknown, FAILED_PRECONDITION for "default").</summary>
            public virtual DeleteAvatarResponse DeleteAvatar(
                DeleteAvatarRequest request, Metadata headers = null, DateTime? deadline = null,
                CancellationToken cancellationToken = default(CancellationToken))
            {
                return DeleteAvatar(request, new CallOptions(headers, deadline, cancellationToken));
            }

            public virtual DeleteAvatarResponse DeleteAvatar(DeleteAvatarRequest request, CallOptions options)
            {
                return CallInvoker.BlockingUnaryCall(DeleteAvatarMethod, null, options, request);
            }

            public virtual AsyncUnaryCall<DeleteAvatarResponse> DeleteAvatarAsync(
                DeleteAvatarRequest request, Metadata headers = null, DateTime? deadline = null,
                CancellationToken cancellationToken = default(CancellationToken))
            {
                return DeleteAvatarAsync(request, new CallOptions(headers, deadline, cancellationToken));
            }

            public virtual AsyncUnaryCall<DeleteAvatarResponse> DeleteAvatarAsync(DeleteAvatarRequest request, CallOptions options)
            {
                return CallInvoker.AsyncUnaryCall(DeleteAvatarMethod, null, options, request);
            }

            /// <summary>Version, model, limits and capabilities of this daemon.</summary>
            public virtual ServerInfo GetServerInfo(
                GetServerInfoRequest request, Metadata headers = null, DateTime? deadline = null,
                CancellationToken cancellationToken = default(CancellationToken))
            {
                return GetServerInfo(request, new CallOptions(headers, deadline, cancellationToken));
            }

            public virtual ServerInfo GetServerInfo(GetServerInfoRequest request, CallOptions options)
            {
                return CallInvoker.BlockingUnaryCall(GetServerInfoMethod, null, options, request);
            }

            public virtual AsyncUnaryCall<ServerInfo> GetServerInfoAsync(
                GetServerInfoRequest request, Metadata headers = null, DateTime? deadline = null,
                CancellationToken cancellationToken = default(CancellationToken))
            {
                return GetServerInfoAsync(request, new CallOptions(headers, deadline, cancellationToken));
            }

            public virtual AsyncUnaryCall<ServerInfo> GetServerInfoAsync(GetServerInfoRequest request, CallOptions options)
            {
                return CallInvoker.AsyncUnaryCall(GetServerInfoMethod, null, options, request);
            }

            protected override BridgeClient NewInstance(ClientBaseConfiguration configuration)
            {
                return new BridgeClient(configuration);
            }
        }
    }
}
