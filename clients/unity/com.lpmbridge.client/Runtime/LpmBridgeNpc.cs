// LpmBridgeNpc: plays an NPC's lines and shows the lpm-bridge face in sync with them.
//
// Attach to an NPC with an AudioSource. Optionally set facePortrait (the NPC's own face,
// registered at level load). Set faceRenderer (its material's main texture becomes the
// face) and/or portrait (a UI RawImage), and/or rig (a SkinnedMeshRenderer with
// ARKit-named blend shapes). Then call Speak(clip) as often as you like: lines queue.
// With only a rig, the session asks for FRAME_ENCODING_NONE (motion only, no pictures).
//
// Failures are loud: every one is logged and raised as Error (a gRPC Status). The session
// is (re)opened when needed: at Start, and by the next Speak after it was lost (daemon
// restart or drain); UNAVAILABLE (daemon down or still loading) is retried with backoff.
//
// Sync rule (docs/protocol.md): audio is the clock. A line starts once its first speech
// frame has arrived plus startBufferMs and the previous line has finished; each frame is
// shown when the AudioSource's position reaches its pts_samples (LinePlayback).
using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Grpc.Core;
using Lpm.Bridge.V1;
using UnityEngine;
using UnityEngine.UI;

namespace LpmBridge
{
    [RequireComponent(typeof(AudioSource))]
    public sealed class LpmBridgeNpc : MonoBehaviour
    {
        public string serverAddress = "http://127.0.0.1:50051";
        public string avatarId = "default";
        // Optional: this NPC's own face, a portrait image imported as a TextAsset (rename
        // it to .bytes). Registered with the daemon at level load (Start), at `size`;
        // avatarId is then the registered face's id.
        public TextAsset facePortrait;
        public int sampleRateHz = 24000;
        public int size = 256;
        public Renderer faceRenderer;
        public RawImage portrait;
        public SkinnedMeshRenderer rig;
        // The line's audio waits for its first frame plus this buffer: a busy server then
        // delays the line a little instead of letting the face lag the voice
        // (docs/performance.md: with 16 lines sent at once, ~150 ms keeps every frame on time).
        public int startBufferMs = 150;
        // Tries to open a session while the daemon answers UNAVAILABLE (down or loading),
        // waiting 0.5 s, 1 s, 2 s, 4 s, then 8 s between tries.
        public int connectAttempts = 6;
        public float connectTimeoutS = 10f;
        // The voice is heard later than AudioSource.timeSamples says: by the mixer's DSP
        // buffers (measured at Awake) plus this, for output the engine cannot see (a
        // Bluetooth headset adds ~150 to 250 ms). Frames are shown against what is heard.
        public int extraOutputLatencyMs = 0;

        // Every failure, after it is logged: the daemon's status (UNAVAILABLE, INVALID_ARGUMENT
        // naming the field, ...) or a local one (a clip at the wrong rate is INVALID_ARGUMENT).
        public event Action<Status> Error;
        // A line's audio started / played to its end / was cut off by StopSpeaking or a lost
        // session (every line dropped, the playing one first).
        public event Action<AudioClip> SpeakingStarted;
        public event Action<AudioClip> SpeakingEnded;
        public event Action<List<AudioClip>> SpeakingInterrupted;

        private const int ChunkMs = 40;  // audio per AudioChunk message

        private LpmBridgeSession _session;
        private Task<LpmBridgeSession> _connecting;
        private Task _registration;
        private bool _errorReported;  // this session's in-band ERROR was already raised
        private LinePlayback<AudioClip, Frame> _playback;
        private AudioSource _voice;
        private Texture2D _texture;
        private long _outputLatencySamples;  // at sampleRateHz
        private int[] _blendshapeIndex = new int[0];  // Frame.blendshapes[i] -> rig shape index
        private readonly Queue<AudioClip> _toSend = new Queue<AudioClip>();
        private CancellationTokenSource _lineCancel = new CancellationTokenSource();
        private bool _sending;
        private bool _destroyed;

        // Motion only: no picture to show, so the daemon renders none.
        private bool RigOnly
        {
            get { return rig != null && faceRenderer == null && portrait == null; }
        }

        // Awake, not Start: another component's Start may already call Speak.
        private void Awake()
        {
            _voice = GetComponent<AudioSource>();
            _playback = new LinePlayback<AudioClip, Frame>(startBufferMs / 1000.0);
            _texture = new Texture2D(size, size, TextureFormat.RGB24, false);
            int bufferLength, bufferCount;
            AudioSettings.GetDSPBufferSize(out bufferLength, out bufferCount);
            double latencyS = (double)bufferLength * bufferCount / AudioSettings.outputSampleRate
                              + extraOutputLatencyMs / 1000.0;
            _outputLatencySamples = (long)(latencyS * sampleRateHz);
            if (faceRenderer != null) faceRenderer.material.mainTexture = _texture;
            if (portrait != null) portrait.texture = _texture;
        }

        private async void Start()
        {
            await EnsureSessionAsync();  // idle frames (blinks, breathing) from now on
        }

        // The face is registered once, before the first session asks for it.
        private Task RegistrationAsync()
        {
            if (_registration == null)
            {
                _registration = facePortrait != null ? RegisterFaceAsync() : Task.FromResult(true);
            }
            return _registration;
        }

        private async Task RegisterFaceAsync()
        {
            try
            {
                Lpm.Bridge.V1.Avatar avatar = await WithRetryAsync(() =>
                    LpmBridgeSession.RegisterAvatarAsync(serverAddress, facePortrait.bytes, name, (uint)size));
                avatarId = avatar.Id;
            }
            catch (RpcException e)
            {
                // e.g. INVALID_ARGUMENT "portrait_image: no face found ...": keep avatarId.
                Fail(e.Status, "face not registered");
            }
            catch (Exception e)
            {
                Fail(new Status(StatusCode.InvalidArgument, $"serverAddress '{serverAddress}': {e.Message}"), "face not registered");
            }
        }

        // Perform one line after every line queued before it. The clip's rate must equal
        // sampleRateHz and its data must be readable (Load Type: Decompress On Load).
        public void Speak(AudioClip clip)
        {
            string problem = _playback == null ? "the NPC is not active yet (its Awake has not run)" : CheckClip(clip);
            if (problem != null)
            {
                Fail(new Status(StatusCode.InvalidArgument, problem), "line refused");
                return;
            }
            _toSend.Enqueue(clip);
            if (!_sending) SendQueuedLines();
        }

        // The player cut the NPC off: the line stops now, its upload and every queued line
        // are dropped, and the face returns to idle.
        public void StopSpeaking()
        {
            _lineCancel.Cancel();
            _lineCancel = new CancellationTokenSource();
            var dropped = new List<AudioClip>(_toSend);
            _toSend.Clear();
            if (_voice != null) _voice.Stop();
            bool live = _session != null && _session.Ended == null;
            if (_playback != null) dropped.InsertRange(0, _playback.Interrupt(live));
            if (live) SendInterrupt(_session);
            if (dropped.Count > 0 && SpeakingInterrupted != null) SpeakingInterrupted(dropped);
        }

        private async void SendInterrupt(LpmBridgeSession session)
        {
            try
            {
                await session.InterruptAsync();
            }
            catch (RpcException e)
            {
                SessionLost(session, e.Status);
            }
            catch (Exception e)
            {
                SessionLost(session, new Status(StatusCode.Unknown, e.Message));
            }
        }

        // async void: the one place lines leave; every exception is caught and raised as Error.
        private async void SendQueuedLines()
        {
            _sending = true;
            try
            {
                while (_toSend.Count > 0 && !_destroyed)
                {
                    LpmBridgeSession session = await EnsureSessionAsync();
                    if (session == null)
                    {
                        DropUnsent();  // the connect failure was raised already
                        return;
                    }
                    if (_toSend.Count == 0) return;  // StopSpeaking while connecting
                    AudioClip clip = _toSend.Dequeue();
                    CancellationToken cancel = _lineCancel.Token;
                    try
                    {
                        await SendLineAsync(session, clip, cancel);
                    }
                    catch (OperationCanceledException) when (cancel.IsCancellationRequested)
                    {
                        // StopSpeaking cut this upload short; the daemon got an Interrupt.
                    }
                    catch (RpcException e)
                    {
                        SessionLost(session, e.Status);
                    }
                    catch (Exception e)
                    {
                        // e.g. the call completed under the write: SessionLost ignores a
                        // session already reported lost.
                        SessionLost(session, new Status(StatusCode.Unknown, e.Message));
                    }
                }
            }
            finally
            {
                _sending = false;
            }
        }

        private async Task SendLineAsync(LpmBridgeSession session, AudioClip clip, CancellationToken cancel)
        {
            byte[] pcm = ToPcm16Mono(clip);
            int step = sampleRateHz * ChunkMs / 1000 * 2;
            _playback.Uploading(clip);
            for (int offset = 0; offset < pcm.Length; offset += step)
            {
                cancel.ThrowIfCancellationRequested();
                await session.SendAudioAsync(pcm, offset, Math.Min(step, pcm.Length - offset), cancel);
            }
            cancel.ThrowIfCancellationRequested();
            await session.EndUtteranceAsync(cancel);
        }

        private void DropUnsent()
        {
            var dropped = new List<AudioClip>(_toSend);
            _toSend.Clear();
            if (dropped.Count > 0 && SpeakingInterrupted != null) SpeakingInterrupted(dropped);
        }

        // The live session, opened (with retries) if there is none; null if that failed.
        private Task<LpmBridgeSession> EnsureSessionAsync()
        {
            if (_session != null) return Task.FromResult(_session);
            // A finished attempt (failed, or its session since lost) is not reused.
            if (_connecting == null || _connecting.IsCompleted) _connecting = ConnectAsync();
            return _connecting;
        }

        private async Task<LpmBridgeSession> ConnectAsync()
        {
            try
            {
                await RegistrationAsync();
                LpmBridgeSession session = await WithRetryAsync(() => LpmBridgeSession.ConnectAsync(
                    serverAddress, BuildConfig(), TimeSpan.FromSeconds(connectTimeoutS)));
                if (_destroyed)
                {
                    session.Dispose();
                    return null;
                }
                OnSessionStarted(session);
                return session;
            }
            catch (RpcException e)
            {
                Fail(e.Status, "no session");
                return null;
            }
            catch (Exception e)
            {
                // e.g. UriFormatException: serverAddress is not an http(s):// URL.
                Fail(new Status(StatusCode.InvalidArgument, $"serverAddress '{serverAddress}': {e.Message}"), "no session");
                return null;
            }
        }

        private SessionConfig BuildConfig()
        {
            return new SessionConfig
            {
                AvatarId = avatarId,
                SampleRateHz = (uint)sampleRateHz,
                Size = (uint)size,
                Encoding = RigOnly ? FrameEncoding.None : FrameEncoding.Jpeg,
                Blendshapes = rig != null,
            };
        }

        // UNAVAILABLE (daemon down, loading or draining) is retried with backoff; any other
        // status, or the last UNAVAILABLE, is thrown.
        private async Task<T> WithRetryAsync<T>(Func<Task<T>> call)
        {
            float wait = 0.5f;
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    return await call();
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable
                                             && attempt < connectAttempts && !_destroyed)
                {
                    Debug.LogWarning($"lpm-bridge: {serverAddress} unavailable ({e.Status.Detail}); retry in {wait} s");
                }
                await Task.Delay(TimeSpan.FromSeconds(wait));
                wait = Math.Min(wait * 2f, 8f);
            }
        }

        private void OnSessionStarted(LpmBridgeSession session)
        {
            _session = session;
            _errorReported = false;
            _playback.Reset();
            Mesh mesh = rig != null ? rig.sharedMesh : null;
            var names = session.Started.BlendshapeNames;
            _blendshapeIndex = new int[names.Count];
            for (int i = 0; i < names.Count; i++)
            {
                _blendshapeIndex[i] = mesh != null ? mesh.GetBlendShapeIndex(names[i]) : -1;
            }
            if (mesh != null && names.Count > 0 && Array.TrueForAll(_blendshapeIndex, index => index < 0))
            {
                Debug.LogWarning("lpm-bridge: the rig has none of the 52 ARKit blend shape names");
            }
        }

        private void Update()
        {
            LpmBridgeSession session = _session;
            if (session == null) return;
            // Ended is read first: it is set after the last response is queued, so none is lost.
            Status? ended = session.Ended;
            PerformResponse response;
            while (_session == session && session.Responses.TryDequeue(out response)) Handle(response);
            if (_session == session && ended.HasValue) SessionLost(session, ended.Value);
            if (_session == session) AdvancePlayback();
        }

        private void AdvancePlayback()
        {
            if (_playback.Playing != null && !_voice.isPlaying)
            {
                AudioClip ended = _playback.Finished();
                if (SpeakingEnded != null) SpeakingEnded(ended);
            }
            AudioClip next = _playback.StartDue(Time.unscaledTime);
            if (next != null)
            {
                _voice.clip = next;  // the AudioSource is idle: nothing is cut off
                _voice.Play();
                if (SpeakingStarted != null) SpeakingStarted(next);
            }
            long played = _playback.Playing != null ? Math.Max(0, _voice.timeSamples - _outputLatencySamples) : 0;
            Frame due = _playback.Due(played);
            if (due != null) Show(due);
        }

        private void Handle(PerformResponse response)
        {
            if (response.ResponseCase == PerformResponse.ResponseOneofCase.Frame)
            {
                Frame frame = response.Frame;
                Frame now = _playback.OnFrame((long)frame.PtsSamples, frame.Speaking, frame);
                if (now != null) Show(now);
                return;
            }
            if (response.ResponseCase != PerformResponse.ResponseOneofCase.Event) return;
            Lpm.Bridge.V1.Event e = response.Event;  // qualified: UnityEngine has an EventType too
            switch (e.Type)
            {
                case Lpm.Bridge.V1.EventType.UtteranceStart:
                    _playback.OnUtteranceStart((long)e.PtsSamples);
                    break;
                case Lpm.Bridge.V1.EventType.Interrupted:
                    _playback.OnInterrupted();
                    break;
                case Lpm.Bridge.V1.EventType.Error:
                    _errorReported = true;
                    string field = e.Field.Length > 0 ? e.Field + ": " : "";
                    Fail(new Status((StatusCode)e.StatusCode, field + e.Message), "session failed");
                    break;
            }
        }

        // The call ended (error, drain, restart): report it once, drop its lines, and let the
        // next Speak open a new session.
        private void SessionLost(LpmBridgeSession session, Status status)
        {
            if (_session != session) return;
            _session = null;
            session.Dispose();
            if (!_errorReported && status.StatusCode != StatusCode.Cancelled)
            {
                Status reported = status.StatusCode == StatusCode.OK
                    ? new Status(StatusCode.Unavailable, "the daemon ended the session (drain or restart)")
                    : status;
                Fail(reported, "session ended");
            }
            if (_voice != null) _voice.Stop();
            List<AudioClip> dropped = _playback.Reset();
            if (dropped.Count > 0 && SpeakingInterrupted != null) SpeakingInterrupted(dropped);
        }

        private void Fail(Status status, string what)
        {
            Debug.LogError($"lpm-bridge: {what}: {status.StatusCode} {status.Detail}");
            if (Error != null) Error(status);
        }

        private void Show(Frame frame)
        {
            if (frame.Image.Length > 0 && frame.Encoding == FrameEncoding.Jpeg)
            {
                // LoadImage decodes and flips to Unity's bottom-up row order itself.
                _texture.LoadImage(frame.Image.ToByteArray());
            }
            if (rig == null) return;
            for (int i = 0; i < frame.Blendshapes.Count && i < _blendshapeIndex.Length; i++)
            {
                // ARKit weights are 0 to 1; Unity blend shape weights are 0 to 100.
                if (_blendshapeIndex[i] >= 0) rig.SetBlendShapeWeight(_blendshapeIndex[i], frame.Blendshapes[i] * 100f);
            }
        }

        private string CheckClip(AudioClip clip)
        {
            if (clip == null) return "Speak(null): no clip";
            if (clip.frequency != sampleRateHz)
                return $"clip '{clip.name}' is {clip.frequency} Hz; this NPC's session is {sampleRateHz} Hz (sampleRateHz)";
            if (clip.loadType != AudioClipLoadType.DecompressOnLoad)
                return $"clip '{clip.name}' is {clip.loadType}: set its Load Type to Decompress On Load so its samples can be read";
            return null;
        }

        private static byte[] ToPcm16Mono(AudioClip clip)
        {
            var samples = new float[clip.samples * clip.channels];
            clip.GetData(samples, 0);
            var pcm = new byte[clip.samples * 2];
            for (int i = 0; i < clip.samples; i++)
            {
                float mono = 0f;
                for (int c = 0; c < clip.channels; c++) mono += samples[i * clip.channels + c];
                short s = (short)Mathf.Clamp(mono / clip.channels * 32767f, -32768f, 32767f);
                pcm[2 * i] = (byte)(s & 0xff);
                pcm[2 * i + 1] = (byte)((s >> 8) & 0xff);
            }
            return pcm;
        }

        private void OnDestroy()
        {
            _destroyed = true;
            _lineCancel.Cancel();
            if (_session != null) _session.Dispose();
            _session = null;
        }
    }
}
