"""The live session: one NPC's performance, the one object every transport adapts.

A session owns one motion stream (the audio performance mapper's state), one
appearance and one bounded outbox. Transports call ``push_audio`` / ``end_utterance``
/ ``interrupt`` and iterate frames and events; the shared runner (engine.py) calls
``tick`` / ``plan`` / ``make_job`` / ``deliver`` on the event loop between batches.

Audio is the master clock. The session timeline counts input-audio samples and every
sample the motion stream receives (speech or idle silence) lies on it, so motion frame
``n`` is session frame ``n`` at ``Timeline.pts(n)`` exactly. Rules (docs/protocol.md):

* Idle: while no utterance is open, silence is pushed as wall time passes (only when the
  wall clock is ahead of the timeline), so idle frames keep coming in real time.
* An utterance starts at the live edge, ``max(timeline end, wall clock)``, moved up to
  the next frame boundary (padded with silence) so its start pts T is on the frame grid.
* Audio faster than real time simply extends the timeline; frames are rendered as fast
  as the runner allows. Real-time audio is answered as soon as each frame is ready.
* ``end_utterance`` flushes the stream's lookahead; UTTERANCE_END carries the pts of the
  utterance's last sample and follows its last frame.
* ``interrupt`` drops queued speech (queued requests, unrendered audio and speech frames
  still in the outbox) and emits INTERRUPTED where speech stopped; the stream keeps its
  32-frame state, so the face returns to idle without a pop. The timeline is re-anchored
  there: when its end lies ahead of the wall clock (a line sent ahead of playback), the
  wall clock is moved up to it, so idle frames resume at once rather than when the wall
  clock reaches the end of the discarded line.
* Nobody reading: while the outbox is full, nothing is rendered for the session. Speech
  waits (its pending audio then fills and the transport stops reading: backpressure);
  idle pauses: no silence is pushed, and when the reader takes frames again the idle
  timeline resumes from where it paused, re-anchored to the wall clock (no backlog of
  stale idle frames is rendered). No frame is dropped and ``Frame.index`` has no gap.
* Audio is fed to the stream at most ``max_pending_audio_s`` ahead of the rendered frames
  (the rest waits in the queue), so a chunk of any length the transport allows is accepted.

Transport calls only queue operations; the stream itself is touched only by the runner
between batches, so a batch computing in the worker thread never races a push.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from lpm_bridge.errors import AudioError, ResourceExhaustedError
from lpm_bridge.motion import FloatArray
from lpm_bridge.outbox import Outbox, OutboxClosed
from lpm_bridge.session_types import Event, EventType, Frame, SessionConfig, Timeline

Pcm = npt.NDArray[np.int16]
IDLE_PUSH_MAX_S = (
    1.0  # idle silence pushed per tick at most (a stalled process catches up in steps)
)
# Audio given to the motion stream ahead of the rendered frames, at most: the stream refuses
# more than 120 s (mapper/stream.py MAX_PENDING_S); the rest of a long chunk waits in the
# session's queue.
STREAM_FEED_MAX_S = 60.0


class Clock(Protocol):
    """Seconds on a monotonic clock; tests inject a virtual one."""

    def now(self) -> float: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()


class MotionSource(Protocol):
    """What a session needs of the mapper's MotionStream (lpm_bridge.mapper)."""

    @property
    def samples_pushed(self) -> int: ...
    @property
    def frames_ready(self) -> int: ...
    @property
    def frames_done(self) -> int: ...
    def push_audio(self, pcm: Pcm) -> None: ...
    def flush(self) -> None: ...
    def drop_pending_audio(self) -> int: ...


class Runner(Protocol):
    """The shared runner a session registers with (engine.Engine)."""

    def add(self, session: LiveSession) -> None: ...
    def remove(self, session: LiveSession) -> None: ...
    def wake(self) -> None: ...


@dataclass
class Job:
    """Frames ``first .. first + n - 1`` of one session, planned for one batch."""

    session: LiveSession
    first: int
    n: int


@dataclass
class JobResult:
    """What the worker computed for a Job."""

    motion: FloatArray  # (n, 55) float32
    visemes: npt.NDArray[np.int64]  # (n,)
    images: list[bytes] | None  # n encoded pictures, or None for Encoding.NONE
    width: int = 0
    height: int = 0


@dataclass
class _Span:
    """An utterance's audio span [start, end) on the timeline; end None while open."""

    start: int
    end: int | None = None

    def covers(self, pts: int) -> bool:
        return self.start <= pts and (self.end is None or pts < self.end)


class _End:
    pass


class _Interrupt:
    pass


_Op = Pcm | _End | _Interrupt
_ids = itertools.count(1)


def pcm16_from_bytes(data: bytes, field: str = "audio.pcm") -> Pcm:
    """Decode PCM16 little-endian mono bytes; an odd byte count is an AudioError."""
    if len(data) % 2:
        raise AudioError(
            f"{field} must hold whole 16-bit samples, got {len(data)} bytes", field=field
        )
    return np.frombuffer(data, dtype="<i2").astype(np.int16, copy=False)


class LiveSession:
    """One NPC's live performance. See the module docstring for the timeline rules."""

    def __init__(
        self,
        config: SessionConfig,
        stream: MotionSource,
        *,
        appearance: Any = None,
        runner: Runner | None = None,
        clock: Clock | None = None,
        outbox_frames: int = 64,
        max_pending_audio_s: float = 30.0,
        session_id: str | None = None,
        avatar_id: str = "",
    ) -> None:
        self.config = config.validated()
        self.timeline = Timeline(config.sample_rate_hz, config.fps)
        self.stream = stream
        self.appearance = appearance  # lpm_bridge.appearance.Appearance, opaque here
        self.id = session_id or f"s{next(_ids)}-{uuid.uuid4().hex[:8]}"
        self.avatar_id = avatar_id  # for transports that echo it; the session renders `appearance`
        self.outbox = Outbox(outbox_frames)
        self.outbox.on_take = self._on_take
        self._runner = runner
        self._clock = clock or MonotonicClock()
        self._max_pending = self.timeline.samples(max_pending_audio_s)
        self._feed_ahead = self.timeline.samples(min(max_pending_audio_s, STREAM_FEED_MAX_S))
        self._ops: deque[_Op] = deque()
        self._ops_samples = 0
        self._t0: float | None = None
        self._open: _Span | None = None  # the utterance accepting audio
        self._spans: deque[_Span] = deque()
        self._pending_events: deque[tuple[int, Event]] = deque()  # (release before frame, event)
        self._finishing = False
        self._stalled = False  # the outbox was full and unread: idle paused (module docstring)
        self._room = asyncio.Event()
        self._last_activity = self._clock.now()  # audio or a request in, or a frame taken

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start the timeline now and register with the runner."""
        self.begin()

    def begin(self) -> None:
        """``start`` for synchronous drivers (the offline pipeline)."""
        self._t0 = self._last_activity = self._clock.now()
        if self._runner is not None:
            self._runner.add(self)

    async def aclose(self) -> None:
        """Stop at once: unregister, drop queued work, end iteration. Idempotent."""
        self.close()

    def close(self) -> None:
        """``aclose`` for synchronous callers (gRPC done-callbacks)."""
        if self._runner is not None:
            self._runner.remove(self)
            self._runner = None
        self._ops.clear()
        self.outbox.close()
        self._room.set()

    async def __aenter__(self) -> LiveSession:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def fail(self, error: BaseException) -> None:
        """End iteration with ``error`` (raised to the reader before anything queued)."""
        self.outbox.close(error)
        self._room.set()

    @property
    def active(self) -> bool:
        """Still producing (not closed, failed or finished)."""
        return not self.outbox.closed

    # ------------------------------------------------------------------ transport side
    def touch(self) -> None:
        """The client did something (a request arrived): the session is not idle."""
        self._last_activity = self._clock.now()

    def idle_for(self) -> float:
        """Seconds since the client last sent a request or took a frame."""
        return self._clock.now() - self._last_activity

    def push_audio(self, pcm: Pcm) -> None:
        """Append PCM16 mono audio to the current utterance (opening one if none is open).

        A chunk of any length is accepted while the session is writable (less than
        ``max_pending_audio_s`` pending); a transport awaits ``writable()`` before each push,
        so what a session holds is bounded by that limit plus one chunk.
        """
        pcm = np.asarray(pcm)
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise AudioError(
                f"audio must be 1-D int16 PCM, got {pcm.dtype} {pcm.shape}", field="audio.pcm"
            )
        if self._finishing:
            raise AudioError("audio after the input was closed", field="audio")
        if self.pending_samples >= self._max_pending:
            limit = self._max_pending / self.config.sample_rate_hz
            raise ResourceExhaustedError(
                f"audio: {limit:g} s of audio (max_pending_audio_s) is already waiting to be "
                "rendered; wait until the session has room",
                field="audio",
            )
        self.touch()
        if len(pcm):
            self._ops.append(pcm)
            self._ops_samples += len(pcm)
            self._wake()

    async def writable(self) -> None:
        """Wait until pending (unrendered) audio is under the limit: transport backpressure."""
        while self.pending_samples >= self._max_pending and self.active:
            self._room.clear()
            await self._room.wait()

    def end_utterance(self) -> None:
        """The utterance is complete: flush it; UTTERANCE_END follows its last frame."""
        self.touch()
        self._ops.append(_End())
        self._wake()

    def interrupt(self) -> None:
        """Barge-in: drop queued speech now and return to idle (INTERRUPTED marks where)."""
        self.touch()
        for op in list(self._ops):
            if isinstance(op, np.ndarray):
                self._ops_samples -= len(op)
        self._ops.clear()
        self._ops.append(_Interrupt())
        self._wake()

    def finish(self) -> None:
        """No more input: flush the open utterance, deliver what remains, then end iteration."""
        self.end_utterance()
        self._finishing = True

    def __aiter__(self) -> LiveSession:
        return self

    async def __anext__(self) -> Frame | Event:
        try:
            return await self.outbox.get()
        except OutboxClosed:
            raise StopAsyncIteration from None

    # ------------------------------------------------------------------ runner side
    @property
    def pending_samples(self) -> int:
        """Audio accepted but not yet rendered, in samples."""
        rendered = self.timeline.pts(self.stream.frames_done)
        return self._ops_samples + max(0, self.stream.samples_pushed - rendered)

    def due(self) -> float:
        """Wall-clock time at which the next frame is due (earliest-deadline-first key)."""
        t0 = self._t0 or 0.0
        return t0 + self.stream.frames_done / self.config.fps

    def tick(self) -> None:
        """Apply queued operations and push idle silence up to the wall clock."""
        if not self.active:
            return
        now = self._clock.now()
        self._apply_ops(now)
        if self.pending_samples < self._max_pending:
            self._room.set()  # an interrupt may have freed room for a waiting writer
        if self._open is None and not self._finishing and not self._ops:
            self._idle(now)
        self._maybe_close()

    def plan(self, limit: int) -> int:
        """How many frames to compute for this session now (0 to ``limit``); see outbox.py.

        Never more than the outbox has room for: a full, unread outbox costs no compute."""
        if not self.active:
            return 0
        return max(0, min(self.stream.frames_ready, limit, self.outbox.free))

    def make_job(self, n: int) -> Job:
        return Job(session=self, first=self.stream.frames_done, n=n)

    def deliver(self, job: Job, result: JobResult) -> None:
        """Queue the computed frames (and the events due before them) in the outbox."""
        if not self.active:
            return
        tl, fps = self.timeline, self.config.fps
        for i in range(job.n):
            index = job.first + i
            self._release_events(index)
            pts = tl.pts(index)
            image = result.images[i] if result.images is not None else None
            self.outbox.put(
                Frame(
                    index=index,
                    pts_samples=pts,
                    pts_seconds=index / fps,
                    motion=result.motion[i],
                    viseme=int(result.visemes[i]),
                    speaking=self._speaking(pts),
                    image=image,
                    width=result.width,
                    height=result.height,
                )
            )
        self._release_events(job.first + job.n)
        done = tl.pts(job.first + job.n)
        while self._spans and self._spans[0].end is not None and self._spans[0].end <= done:
            self._spans.popleft()
        self._room.set()
        self._maybe_close()

    # ------------------------------------------------------------------ internals
    def _wake(self) -> None:
        if self._runner is not None:
            self._runner.wake()

    def _on_take(self) -> None:
        self._last_activity = self._clock.now()
        if self.outbox.free == 1:  # it was full: the runner may have work again
            self._wake()

    def _wall(self, now: float) -> int:
        return self.timeline.samples(now - (self._t0 if self._t0 is not None else now))

    def _speaking(self, pts: int) -> bool:
        return any(span.covers(pts) for span in self._spans)

    def _push_silence(self, n: int) -> None:
        if n > 0:
            self.stream.push_audio(np.zeros(n, dtype=np.int16))

    def _anchor(self, now: float, sample: int) -> None:
        """Re-anchor the timeline to the wall clock: ``sample`` is the live edge from ``now``."""
        self._t0 = now - sample / self.config.sample_rate_hz

    def _apply_ops(self, now: float) -> None:
        """Apply queued operations in order; audio goes to the stream at most ``_feed_ahead``
        past the rendered frames, and the rest of a long chunk waits for the next tick."""
        while self._ops:
            op = self._ops[0]
            if not isinstance(op, np.ndarray):
                self._ops.popleft()
                if isinstance(op, _End):
                    self._apply_end()
                else:
                    self._apply_interrupt(now)
                continue
            fed = self.stream.samples_pushed - self.timeline.pts(self.stream.frames_done)
            room = self._feed_ahead - fed
            if room <= 0:
                return
            self._ops.popleft()
            if len(op) > room:
                self._ops.appendleft(op[room:])
                op = op[:room]
            self._ops_samples -= len(op)
            self._apply_audio(op, now)

    def _idle(self, now: float) -> None:
        """No utterance open: push silence up to the wall clock, unless nobody reads."""
        end = self.stream.samples_pushed
        if self.outbox.free == 0:
            self._stalled = True  # nobody reads: the idle timeline pauses, nothing is rendered
            return
        if self._stalled:
            self._stalled = False
            if end < self._wall(now):
                self._anchor(now, end)  # resume where it paused, not with a stale backlog
        gap = self._wall(now) - end
        if gap > 0:
            self._push_silence(min(gap, self.timeline.samples(IDLE_PUSH_MAX_S)))

    def _apply_audio(self, pcm: Pcm, now: float) -> None:
        if self._open is None:
            edge = max(self.stream.samples_pushed, self._wall(now))
            n0 = self.timeline.frame_at_or_after(edge)
            start = self.timeline.pts(n0)
            self._push_silence(start - self.stream.samples_pushed)
            self._open = _Span(start)
            self._spans.append(self._open)
            self._pending_events.append((n0, Event(EventType.UTTERANCE_START, start)))
        self.stream.push_audio(pcm)

    def _apply_end(self) -> None:
        if self._open is None:
            return
        end = self.stream.samples_pushed
        self._open.end = end
        self._open = None
        self.stream.flush()
        before = self.timeline.frame_at_or_after(end)
        self._pending_events.append((before, Event(EventType.UTTERANCE_END, end - 1)))

    def _apply_interrupt(self, now: float) -> None:
        stop = self.outbox.first_speech_pts()
        if stop is not None:
            self.outbox.purge_after(stop)
        else:
            stop = self.timeline.pts(self.stream.frames_done)
        for span in self._spans:
            if span.end is None or span.end > stop:
                span.end = max(span.start, stop)
        self._open = None
        self._pending_events.clear()  # the events of speech that will never be shown
        dropped = self.stream.drop_pending_audio()
        self.stream.flush()
        if self.stream.samples_pushed > self._wall(now):
            # The line was sent ahead of playback: idle resumes now, from the cut, rather than
            # when the wall clock reaches the end of what was rendered (a frozen face).
            self._anchor(now, self.stream.samples_pushed)
        self.outbox.put(
            Event(EventType.INTERRUPTED, stop, f"{dropped} samples of unrendered speech dropped")
        )

    def _release_events(self, before_frame: int) -> None:
        while self._pending_events and self._pending_events[0][0] <= before_frame:
            self.outbox.put(self._pending_events.popleft()[1])

    def _maybe_close(self) -> None:
        if (
            self._finishing
            and not self._ops
            and self._open is None
            and self.stream.frames_ready == 0
        ):
            self._release_events(2**62)
            self.outbox.close()
            if self._runner is not None:
                self._runner.remove(self)
                self._runner = None
