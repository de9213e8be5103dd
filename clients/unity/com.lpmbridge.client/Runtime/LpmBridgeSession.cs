// LpmBridgeSession: one NPC's live performance over gRPC (lpm.bridge.v1.Bridge/Perform).
//
// Plain C#, no UnityEngine: a duplex call whose responses land in a thread-safe queue that
// a MonoBehaviour drains on the main thread (Unity APIs such as Texture2D.LoadImage must
// not run on the receive thread). ConnectAsync returns only once the daemon has answered
// SessionStarted, so "daemon not running", "still loading" and a refused config are
// exceptions (RpcException with the daemon's status), never a session that looks alive.
// Transport: Grpc.Net.Client over YetAnotherHttpHandler, which gives Unity HTTP/2 and
// plain-text h2c (see the package README for where each dependency comes from).
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
        // Frames are at most a 512x512 RGBA picture (1 MiB) plus motion: 8 MiB leaves room.
        private const int MaxReceiveBytes = 8 * 1024 * 1024;

        // Responses after SessionStarted, in arrival order (Frame, Event), for the main thread.
        public readonly ConcurrentQueue<PerformResponse> Responses = new ConcurrentQueue<PerformResponse>();

        // The daemon's answer to the config: effective settings, blendshape and viseme names.
        public SessionStarted Started { get; private set; }

        private readonly GrpcChannel _channel;
        private readonly AsyncDuplexStreamingCall<PerformRequest, PerformResponse> _call;
        private readonly CancellationTokenSource _cancel = new CancellationTokenSource();
        // gRPC allows one write in flight per call: writes are chained on this lock.
        private readonly SemaphoreSlim _writeLock = new SemaphoreSlim(1, 1);
        private readonly object _endedLock = new object();
        private Status? _ended;
        private bool _disposed;

        private LpmBridgeSession(string address)
        {
            _channel = OpenChannel(address);
            _call = new Bridge.BridgeClient(_channel).Perform(cancellationToken: _cancel.Token);
        }

        // Set once the call has ended: the daemon's status, or OK when it closed the stream
        // (a drain or restart: this client never half-closes). Null while the call is live.
        public Status? Ended
        {
            get { lock (_endedLock) return _ended; }
        }

        // address: "http://127.0.0.1:50051" (plain-text HTTP/2, h2c) or an https:// URL.
        public static GrpcChannel OpenChannel(string address)
        {
            var handler = new YetAnotherHttpHandler { Http2Only = true };
            return GrpcChannel.ForAddress(address, new GrpcChannelOptions
            {
                HttpHandler = handler,
                DisposeHttpClient = true,
                MaxReceiveMessageSize = MaxReceiveBytes,
            });
        }

        // Open a session and wait for the daemon's SessionStarted (at most `timeout`).
        // Throws RpcException: UNAVAILABLE when the daemon is down or still loading its model,
        // INVALID_ARGUMENT / NOT_FOUND naming the config field at fault, DEADLINE_EXCEEDED when
        // no answer came in time. Nothing is left open when it throws.
        public static async Task<LpmBridgeSession> ConnectAsync(
            string address, SessionConfig config, TimeSpan timeout)
        {
            var session = new LpmBridgeSession(address);
            try
            {
                await session.HandshakeAsync(config, timeout);
            }
            catch
            {
                session.Dispose();
                throw;
            }
            _ = Task.Run(session.ReceiveAsync);  // runs until the call ends, then sets Ended
            return session;
        }

        private async Task HandshakeAsync(SessionConfig config, TimeSpan timeout)
        {
            try
            {
                await _call.RequestStream.WriteAsync(new PerformRequest { Config = config });
            }
            catch (Exception) when (!(_cancel.IsCancellationRequested))
            {
                // The call failed before the config went out (no daemon, refused connection):
                // its status comes from the response stream below.
            }
            using (var deadline = new CancellationTokenSource(timeout))
            {
                try
                {
                    while (await _call.ResponseStream.MoveNext(deadline.Token))
                    {
                        PerformResponse first = _call.ResponseStream.Current;
                        if (first.ResponseCase == PerformResponse.ResponseOneofCase.Started)
                        {
                            Started = first.Started;
                            return;
                        }
                        // EVENT_TYPE_ERROR comes in-band first; the rpc's status follows.
                    }
                }
                catch (RpcException) when (deadline.IsCancellationRequested)
                {
                    throw NoAnswer(timeout);
                }
                catch (OperationCanceledException) when (deadline.IsCancellationRequested)
                {
                    throw NoAnswer(timeout);
                }
            }
            throw new RpcException(new Status(
                StatusCode.Unavailable, "the daemon closed the session before SessionStarted"));
        }

        private static RpcException NoAnswer(TimeSpan timeout)
        {
            return new RpcException(new Status(StatusCode.DeadlineExceeded,
                $"no SessionStarted from the daemon within {timeout.TotalSeconds:0.#} s"));
        }

        // Register an NPC's portrait (JPEG/PNG/WebP bytes) once, at level load, and return
        // its id for SessionConfig.AvatarId. The daemon encodes the face for each of
        // `sizes` (256, 512) and hands it to its compute processes before it replies, so
        // the NPC's first line starts without a hitch. Registering the same bytes again
        // returns the same id at once. Bad input (no face, a size the daemon does not
        // render) ends in an RpcException whose Status.Detail names the field at fault.
        public static async Task<Lpm.Bridge.V1.Avatar> RegisterAvatarAsync(
            string address, byte[] portrait, string name, params uint[] sizes)
        {
            var request = new RegisterAvatarRequest
            {
                PortraitImage = ByteString.CopyFrom(portrait),
                Name = name ?? "",
            };
            request.Sizes.AddRange(sizes);
            using (GrpcChannel channel = OpenChannel(address))
            {
                return await new Bridge.BridgeClient(channel).RegisterAvatarAsync(request);
            }
        }

        // PCM16 little-endian mono at config.SampleRateHz; 20 to 40 ms per call is typical.
        // `cancel` stops the wait for the write lock (a line being uploaded was interrupted).
        public Task SendAudioAsync(byte[] pcm, int offset, int count, CancellationToken cancel)
        {
            var chunk = new AudioChunk { Pcm = ByteString.CopyFrom(pcm, offset, count) };
            return WriteAsync(new PerformRequest { Audio = chunk }, cancel);
        }

        // The line is complete: the server flushes it and sends EVENT_TYPE_UTTERANCE_END.
        public Task EndUtteranceAsync(CancellationToken cancel)
        {
            return WriteAsync(new PerformRequest { EndOfUtterance = new EndOfUtterance() }, cancel);
        }

        // Barge-in: queued speech is dropped; the server answers EVENT_TYPE_INTERRUPTED.
        public Task InterruptAsync()
        {
            return WriteAsync(new PerformRequest { Interrupt = new Interrupt() }, CancellationToken.None);
        }

        private async Task WriteAsync(PerformRequest request, CancellationToken cancel)
        {
            if (Ended is Status ended) throw new RpcException(ended);
            using (var both = CancellationTokenSource.CreateLinkedTokenSource(cancel, _cancel.Token))
            {
                await _writeLock.WaitAsync(both.Token);
            }
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
            Status ended;
            try
            {
                while (await _call.ResponseStream.MoveNext(_cancel.Token))
                {
                    Responses.Enqueue(_call.ResponseStream.Current);
                }
                ended = Status.DefaultSuccess;
            }
            catch (RpcException e)
            {
                // The detail names the field at fault, e.g. "audio.pcm: odd number of bytes".
                ended = e.Status;
            }
            catch (OperationCanceledException)
            {
                ended = Status.DefaultCancelled;
            }
            catch (Exception e)
            {
                ended = new Status(StatusCode.Internal, e.Message);
            }
            lock (_endedLock) _ended = ended;
        }

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            _cancel.Cancel();
            _call.Dispose();
            _channel.Dispose();
        }
    }
}
