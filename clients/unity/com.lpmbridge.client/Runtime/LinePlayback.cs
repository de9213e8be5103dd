// LinePlayback: the order of an NPC's lines and which frame is due (plain C#, no UnityEngine).
//
// Lines queue: each line's audio is uploaded after the previous one's end_of_utterance, so
// the daemon puts it right after that one on the session timeline, and the k-th
// UTTERANCE_START answers the k-th uploaded line. A line starts playing only when the one
// before it has finished, so a second line never cuts off the first.
//
// Audio is the clock (docs/protocol.md): while line L plays, the frame due is the newest
// with pts_samples <= L.start + samples played. Frames wait here until due; idle frames
// while no line is pending are shown at once (newest wins).
//
// Barge-in: Interrupt() drops every pending line and queued frame at once. Until the
// daemon's INTERRUPTED answers it, an UTTERANCE_START belongs to a dropped line and
// speaking frames are the dropped line's tail: both are ignored.
//
// TClip is the audio (UnityEngine.AudioClip in LpmBridgeNpc), TFrame the frame payload
// (Lpm.Bridge.V1.Frame); keeping them generic keeps this logic testable without Unity.
using System;
using System.Collections.Generic;

namespace LpmBridge
{
    public sealed class LinePlayback<TClip, TFrame> where TClip : class where TFrame : class
    {
        private sealed class Line
        {
            public readonly TClip Clip;
            public long StartPts = -1;  // UTTERANCE_START.pts_samples, once known

            public Line(TClip clip)
            {
                Clip = clip;
            }
        }

        private struct QueuedFrame
        {
            public long Pts;
            public bool Speaking;
            public TFrame Frame;
        }

        private readonly Queue<Line> _awaitingStart = new Queue<Line>();  // uploaded, no start yet
        private readonly Queue<Line> _ready = new Queue<Line>();  // start known, not playing yet
        private readonly Queue<QueuedFrame> _frames = new Queue<QueuedFrame>();
        private readonly double _startBufferS;
        private Line _playing;
        private int _interruptsInFlight;  // sent, INTERRUPTED not yet received
        private double _startAt = -1;  // caller's clock (s) at which the next ready line may start

        // startBufferS: a ready line starts this long after its first speech frame arrived,
        // so a busy daemon delays the line a little instead of the face lagging the voice.
        public LinePlayback(double startBufferS)
        {
            _startBufferS = startBufferS;
        }

        // The line whose audio plays now, or null.
        public TClip Playing
        {
            get { return _playing != null ? _playing.Clip : null; }
        }

        // Where the playing line starts on the session timeline (-1 when none plays).
        public long PlayingStartPts
        {
            get { return _playing != null ? _playing.StartPts : -1; }
        }

        // A line is uploading, waiting or playing: frames wait for the audio clock.
        public bool Busy
        {
            get { return _playing != null || _ready.Count > 0 || _awaitingStart.Count > 0; }
        }

        public int QueuedFrames
        {
            get { return _frames.Count; }
        }

        // The line's audio is about to be sent (after every line uploaded before it).
        public void Uploading(TClip clip)
        {
            _awaitingStart.Enqueue(new Line(clip));
        }

        public void OnUtteranceStart(long pts)
        {
            if (_interruptsInFlight > 0 || _awaitingStart.Count == 0) return;  // a dropped line
            Line line = _awaitingStart.Dequeue();
            line.StartPts = pts;
            _ready.Enqueue(line);
        }

        public void OnInterrupted()
        {
            if (_interruptsInFlight > 0) _interruptsInFlight--;
        }

        // A frame arrived: returns it when it is to be shown now (idle), else null (queued
        // until the audio clock reaches it, or dropped as the tail of an interrupted line).
        public TFrame OnFrame(long pts, bool speaking, TFrame frame)
        {
            if (speaking && _interruptsInFlight > 0) return null;
            if (!Busy && _frames.Count == 0) return frame;
            _frames.Enqueue(new QueuedFrame { Pts = pts, Speaking = speaking, Frame = frame });
            return null;
        }

        // Call every display frame: the clip to start playing now, or null. `now` is any
        // monotonic clock in seconds (Time.unscaledTime in Unity).
        public TClip StartDue(double now)
        {
            if (_ready.Count == 0) return null;
            if (_startAt < 0 && HasSpeechFrom(_ready.Peek().StartPts)) _startAt = now + _startBufferS;
            if (_playing != null || _startAt < 0 || now < _startAt) return null;
            _playing = _ready.Dequeue();
            _startAt = -1;
            return _playing.Clip;
        }

        // The playing line's audio has ended: returns its clip (null if none played).
        public TClip Finished()
        {
            TClip clip = Playing;
            _playing = null;
            return clip;
        }

        // The newest frame due now, or null. playedSamples: the playing line's audio position.
        public TFrame Due(long playedSamples)
        {
            long clock = long.MaxValue;  // nothing to wait for: everything queued is due
            if (_playing != null) clock = _playing.StartPts + playedSamples;
            // Never into the next line: its frames wait for its own audio.
            if (_ready.Count > 0) clock = Math.Min(clock, _ready.Peek().StartPts - 1);
            TFrame due = null;
            while (_frames.Count > 0 && _frames.Peek().Pts <= clock) due = _frames.Dequeue().Frame;
            return due;
        }

        // Barge-in: drop every line not yet finished and every queued frame. sentToDaemon:
        // an Interrupt went to a live session, so its INTERRUPTED is awaited. Returns the
        // dropped clips, the playing one first.
        public List<TClip> Interrupt(bool sentToDaemon)
        {
            List<TClip> dropped = Drop();
            if (sentToDaemon) _interruptsInFlight++;
            return dropped;
        }

        // The session is gone (error, drain, restart): forget everything, like a new session.
        public List<TClip> Reset()
        {
            _interruptsInFlight = 0;
            return Drop();
        }

        private List<TClip> Drop()
        {
            var dropped = new List<TClip>();
            if (_playing != null) dropped.Add(_playing.Clip);
            foreach (Line line in _ready) dropped.Add(line.Clip);
            foreach (Line line in _awaitingStart) dropped.Add(line.Clip);
            _playing = null;
            _ready.Clear();
            _awaitingStart.Clear();
            _frames.Clear();
            _startAt = -1;
            return dropped;
        }

        private bool HasSpeechFrom(long startPts)
        {
            foreach (QueuedFrame queued in _frames)
            {
                if (queued.Speaking && queued.Pts >= startPts) return true;
            }
            return false;
        }
    }
}
