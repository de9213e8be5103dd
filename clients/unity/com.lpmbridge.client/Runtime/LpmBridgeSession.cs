// LpmBridgeSession: one NPC's live performance over gRPC (lpm.bridge.v1.Bridge/Perform).
//
// Plain C#, no UnityEngine: a duplex call whose responses land in a thread-safe queue
// that a MonoBehaviour drains on the main thread (Unity APIs such as Texture2D.LoadImage
// must not run on the receive thread). Needs the classes generated from
// protos/lpm/bridge/v1/bridge.proto (namespace Lpm.Bridge.V1), Grpc.Net.Client and
// YetAnotherHttpHandler for HTTP/2 (see clients/unity/README.md).
using System;
using System.Collections.Concurrent;
using System.Threading;
using System.Threading.Tasks;
using Cysharp.Net.Http;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Lpm.Bridge.V1;

namespace LpmBridge
{
    public sealed class LpmBridgeSession : IDisposable
    {
        // Responses in arrival order (SessionStarted, Frame, Event), for the main thread.
        public readonly ConcurrentQueue<PerformResponse> Responses = new ConcurrentQueue<PerformResponse>();

        // Set when the call ends: StatusCode.OK after a clean end, the server's status otherwise.
        public Status? Ended { get; private set; }

        private readonly GrpcChannel _channel;
        private readonly AsyncDuplexStreamingCall<PerformRequest, PerformResponse> _call;
        private readonly CancellationTokenSource _cancel = new CancellationTokenSource();
        // gRPC allows one write in flight per call: writes are chained on this lock.
        private readonly SemaphoreSlim _writeLock = new SemaphoreSlim(1, 1);
        private Task _receiveLoop;

        // address: "http://127.0.0.1:50051" (plain-text HTTP/2, h2c) or an https:// URL.
        public LpmBridgeSession(string address)
        {
            var handler = new YetAnotherHttpHandler { Http2Only = true };
            _channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
            {
                HttpHandler = handler,
                DisposeHttpClient = true,
                MaxReceiveMessageSize = 8 * 1024 * 1024,
            });
            var client = new Bridge.BridgeClient(_channel);
            _call = client.Perform(cancellationToken: _cancel.Token);
        }

        // Register an NPC's portrait (JPEG/PNG/WebP bytes) once, at level load, and return
        // its id for SessionConfig.AvatarId. The daemon encodes the face for each of
        // `sizes` (256, 512) and hands it to its compute processes before it replies, so
        // the NPC's first line starts without a hitch. Registering the same bytes again
        // returns the same id at once. Bad input (no face, a size the daemon does not
        // render) ends in an RpcException whose Status.Detail names the field at fault.
        public static async Task<Avatar> RegisterAvatarAsync(
            string address, byte[] portrait, string name, params uint[] sizes)
        {
            var request = new RegisterAvatarRequest
            {
                PortraitImage = ByteString.CopyFrom(portrait),
                Name = name ?? "",
            };
            request.Sizes.AddRange(sizes);
            var handler = new YetAnotherHttpHandler { Http2Only = true };
            var options = new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true };
            using (var channel = GrpcChannel.ForAddress(address, options))
            {
                return await new Bridge.BridgeClient(channel).RegisterAvatarAsync(request);
            }
        }

        // Send the config (first and once) and start receiving.
        public async Task StartAsync(SessionConfig config)
        {
            await WriteAsync(new PerformRequest { Config = config });
            _receiveLoop = Task.Run(ReceiveAsync);
        }

        // PCM16 little-endian mono at config.SampleRateHz; 20 to 40 ms per call is typical.
        public Task SendAudioAsync(byte[] pcm, int offset, int count)
        {
            var chunk = new AudioChunk { Pcm = ByteString.CopyFrom(pcm, offset, count) };
            return WriteAsync(new PerformRequest { Audio = chunk });
        }

        // The line is complete: the server flushes it and sends EVENT_TYPE_UTTERANCE_END.
        public Task EndUtteranceAsync()
        {
            return WriteAsync(new PerformRequest { EndOfUtterance = new EndOfUtterance() });
        }

        // Barge-in: queued speech is dropped; the server answers EVENT_TYPE_INTERRUPTED.
        public Task InterruptAsync()
        {
            return WriteAsync(new PerformRequest { Interrupt = new Interrupt() });
        }

        private async Task WriteAsync(PerformRequest request)
        {
            await _writeLock.WaitAsync(_cancel.Token);
            try
            {
                await _call.RequestStream.WriteAsync(request);
            }
            finally
            {
                _writeLock.Release();
            }
        }

        private async Task ReceiveAsync()
        {
            try
            {
                while (await _call.ResponseStream.MoveNext(_cancel.Token))
                {
                    Responses.Enqueue(_call.ResponseStream.Current);
                }
                Ended = Status.DefaultSuccess;
            }
            catch (RpcException e)
            {
                // The message names the field at fault, e.g. "config.sample_rate_hz ...".
                Ended = e.Status;
            }
            catch (OperationCanceledException)
            {
                Ended = Status.DefaultCancelled;
            }
        }

        public void Dispose()
        {
            _cancel.Cancel();
            _call.Dispose();
            _channel.Dispose();
            _cancel.Dispose();
        }
    }
}
