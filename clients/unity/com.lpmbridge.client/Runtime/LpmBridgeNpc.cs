// LpmBridgeNpc: plays a line of dialogue and shows the lpm-bridge face in sync with it.
//
// Attach to an NPC with an AudioSource. Optionally set facePortrait (the NPC's own face,
// registered at level load). Set faceRenderer (its material's main texture
// becomes the face: an NPC texture) and/or portrait (a UI RawImage), and rig (a
// SkinnedMeshRenderer with ARKit-named blend shapes) for 3D. Then call Speak(clip).
//
// Sync rule (docs/protocol.md): audio is the clock. The line starts playing at the
// UTTERANCE_START position of the session timeline, once its first speech frame has arrived
// plus startBufferMs, and each frame is shown when the AudioSource's position reaches the
// frame's pts_samples. Idle frames (blinks, breathing)
// between lines are shown as they arrive.
using System.Collections.Generic;
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

        private LpmBridgeSession _session;
        private AudioSource _voice;
        private Texture2D _texture;
        private readonly Queue<Frame> _queue = new Queue<Frame>();
        private readonly List<string> _blendshapeNames = new List<string>();
        private AudioClip _pendingClip;
        private long _utteranceStart = -1;
        private bool _waiting;  // a line is queued; its audio waits for its first frame
        private float _startAt = -1f;  // Time.unscaledTime at which the waiting line starts

        private async void Start()
        {
            _voice = GetComponent<AudioSource>();
            _texture = new Texture2D(size, size, TextureFormat.RGB24, false);
            if (faceRenderer != null) faceRenderer.material.mainTexture = _texture;
            if (portrait != null) portrait.texture = _texture;
            if (facePortrait != null)
            {
                try
                {
                    Avatar avatar = await LpmBridgeSession.RegisterAvatarAsync(
                        serverAddress, facePortrait.bytes, name, (uint)size);
                    avatarId = avatar.Id;
                }
                catch (Grpc.Core.RpcException e)
                {
                    // e.g. INVALID_ARGUMENT "portrait_image: no face found ...": keep avatarId.
                    Debug.LogError($"lpm-bridge: face not registered: {e.Status.StatusCode} {e.Status.Detail}");
                }
            }
            _session = new LpmBridgeSession(serverAddress);
            await _session.StartAsync(new SessionConfig
            {
                AvatarId = avatarId,
                SampleRateHz = (uint)sampleRateHz,
                Size = (uint)size,
                Encoding = FrameEncoding.Jpeg,
                Blendshapes = rig != null,
            });
        }

        // Perform one line. The clip's rate must equal sampleRateHz. The whole clip is sent
        // at once: the server renders faster than real time and frames are buffered here.
        public async void Speak(AudioClip clip)
        {
            if (clip.frequency != sampleRateHz)
            {
                Debug.LogError($"lpm-bridge: clip is {clip.frequency} Hz, session is {sampleRateHz} Hz");
                return;
            }
            _pendingClip = clip;
            byte[] pcm = ToPcm16Mono(clip);
            int step = sampleRateHz / 50 * 2;  // 20 ms of PCM16 per message
            for (int offset = 0; offset < pcm.Length; offset += step)
            {
                await _session.SendAudioAsync(pcm, offset, Mathf.Min(step, pcm.Length - offset));
            }
            await _session.EndUtteranceAsync();
        }

        // The player cut the NPC off.
        public async void StopSpeaking()
        {
            _voice.Stop();
            DropWaitingLine();
            await _session.InterruptAsync();
        }

        private void Update()
        {
            while (_session != null && _session.Responses.TryDequeue(out PerformResponse response))
            {
                Handle(response);
            }
            if (_session != null && _session.Ended is Grpc.Core.Status status && status.StatusCode != Grpc.Core.StatusCode.OK)
            {
                Debug.LogError($"lpm-bridge: session ended: {status.StatusCode} {status.Detail}");
                _session.Dispose();
                _session = null;
            }
            if (_waiting) StartWhenBuffered();
            ShowDueFrames();
        }

        // Start the waiting line's audio once its first speech frame is here plus the buffer.
        private void StartWhenBuffered()
        {
            if (_startAt < 0f)
            {
                foreach (Frame frame in _queue)
                {
                    if (frame.Speaking && (long)frame.PtsSamples >= _utteranceStart)
                    {
                        _startAt = Time.unscaledTime + startBufferMs / 1000f;
                        break;
                    }
                }
            }
            if (_startAt >= 0f && Time.unscaledTime >= _startAt)
            {
                _waiting = false;
                _voice.Play();
            }
        }

        // Forget a line whose audio has not started (interrupted while waiting for frames).
        private void DropWaitingLine()
        {
            if (!_waiting) return;
            _waiting = false;
            _queue.Clear();
            _utteranceStart = -1;
        }

        private void Handle(PerformResponse response)
        {
            switch (response.ResponseCase)
            {
                case PerformResponse.ResponseOneofCase.Started:
                    _blendshapeNames.AddRange(response.Started.BlendshapeNames);
                    break;
                case PerformResponse.ResponseOneofCase.Event:
                    // Qualified: UnityEngine has an EventType too.
                    if (response.Event.Type == Lpm.Bridge.V1.EventType.UtteranceStart)
                    {
                        _utteranceStart = (long)response.Event.PtsSamples;
                        _voice.clip = _pendingClip;
                        _waiting = true;
                        _startAt = -1f;
                    }
                    else if (response.Event.Type == Lpm.Bridge.V1.EventType.Interrupted)
                    {
                        DropWaitingLine();  // a playing line's remaining frames play out
                    }
                    break;
                case PerformResponse.ResponseOneofCase.Frame:
                    if (_voice.isPlaying || _waiting || response.Frame.Speaking) _queue.Enqueue(response.Frame);
                    else Show(response.Frame);  // idle: real-time frames, newest wins
                    break;
            }
        }

        // Show the newest frame whose pts the audio clock has reached.
        private void ShowDueFrames()
        {
            if (_queue.Count == 0) return;
            // Waiting: only frames before the line are due. Finished: everything queued is.
            long clock = _waiting ? _utteranceStart - 1
                : _voice.isPlaying ? _utteranceStart + _voice.timeSamples : long.MaxValue;
            Frame due = null;
            while (_queue.Count > 0 && (long)_queue.Peek().PtsSamples <= clock) due = _queue.Dequeue();
            if (due != null) Show(due);
        }

        private void Show(Frame frame)
        {
            if (frame.Image.Length > 0)
            {
                // JPEG: LoadImage decodes and flips to Unity's bottom-up row order itself.
                _texture.LoadImage(frame.Image.ToByteArray());
            }
            if (rig != null)
            {
                Mesh mesh = rig.sharedMesh;
                for (int i = 0; i < frame.Blendshapes.Count && i < _blendshapeNames.Count; i++)
                {
                    int index = mesh.GetBlendShapeIndex(_blendshapeNames[i]);
                    if (index >= 0) rig.SetBlendShapeWeight(index, frame.Blendshapes[i] * 100f);
                }
            }
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
            _session?.Dispose();
        }
    }
}
