"""Timeline, utterance, interrupt and slow-reader rules of LiveSession, in virtual time."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from bridge_fakes import FakeBackend, VirtualClock, make_session

from lpm_bridge.engine import FrameWorker
from lpm_bridge.errors import AudioError, ConfigError
from lpm_bridge.outbox import OutboxClosed
from lpm_bridge.session import LiveSession, pcm16_from_bytes
from lpm_bridge.session_types import Event, EventType, Frame, SessionConfig, Timeline

WORKER = FrameWorker(FakeBackend())


def pump(session: LiveSession, chunk: int = 16) -> None:
    """Run the runner's per-step calls until nothing is ready."""
    while True:
        session.tick()
        n = session.plan(chunk)
        if n == 0:
            return
        job = session.make_job(n)
        session.deliver(job, WORKER.compute([job])[0])


def drain(session: LiveSession) -> list[Frame | Event]:
    items: list[Frame | Event] = []
    try:
        while (item := session.outbox.get_nowait()) is not None:
            items.append(item)
    except OutboxClosed:
        pass
    return items


def speech(seconds: float, sr: int = 16000) -> np.ndarray:
    return np.full(int(seconds * sr), 1000, dtype=np.int16)


def frames_of(items: list[Frame | Event]) -> list[Frame]:
    return [i for i in items if isinstance(i, Frame)]


def events_of(items: list[Frame | Event]) -> list[Event]:
    return [i for i in items if isinstance(i, Event)]


@pytest.mark.parametrize(
    ("sr", "fps"), [(16000, 25), (44100, 30), (22050, 60), (8000, 30), (48000, 25)]
)
def test_timeline_pts_exact_without_drift(sr: int, fps: int) -> None:
    tl = Timeline(sr, fps)
    hour = 3600 * fps
    assert tl.pts(hour) == 3600 * sr  # one hour later, exactly on the sample
    for n in (0, 1, 7, 12345, hour - 1, hour):
        assert tl.pts(n) == n * sr // fps
        # frame_at_or_after is the inverse on the grid and the ceiling off it
        assert tl.frame_at_or_after(tl.pts(n)) == n
        assert tl.pts(tl.frame_at_or_after(tl.pts(n) + 1)) > tl.pts(n)


async def test_tts_clip_at_once_exact_pts_and_events() -> None:
    clock = VirtualClock()
    s = make_session(clock=clock, outbox_frames=256)
    await s.start()
    clock.advance(1.013)  # idle for a while: the utterance starts at the live edge
    pump(s)
    s.push_audio(speech(2.0))
    s.end_utterance()
    pump(s)  # no wall time passes: everything is rendered "as fast as possible"
    items = drain(s)
    evs = events_of(items)
    assert [e.type for e in evs] == [EventType.UTTERANCE_START, EventType.UTTERANCE_END]
    start, end = evs[0].pts_samples, evs[1].pts_samples
    assert start == 26 * 640  # 1.013 s -> next frame boundary, frame 26
    assert end == start + 32000 - 1  # pts of the utterance's last sample
    frames = frames_of(items)
    assert [f.index for f in frames] == list(range(len(frames)))  # no gaps
    assert all(f.pts_samples == f.index * 640 and f.pts_seconds == f.index / 25 for f in frames)
    speaking = [f.index for f in frames if f.speaking]
    assert speaking == list(range(26, 26 + 50))  # exactly the frames inside [start, end]
    # START comes right before the first speech frame, END right after the last one
    pos = {id(x): i for i, x in enumerate(items)}
    assert items[pos[id(evs[0])] + 1].speaking  # type: ignore[union-attr]
    assert items[pos[id(evs[1])] - 1].index == 75  # type: ignore[union-attr]
    assert frames[-1].index >= 75  # flushed through the end
    assert all(f.motion[17] == 1.0 for f in frames if f.speaking)  # jawOpen of the fake


async def test_idle_frames_follow_the_wall_clock() -> None:
    clock = VirtualClock()
    s = make_session(clock=clock)
    await s.start()
    for _ in range(100):  # 2 s in 20 ms ticks
        clock.advance(0.02)
        pump(s)
    frames = frames_of(drain(s))
    # frames lag the wall clock by the lookahead (80 ms = 2 frames) only
    assert 47 <= len(frames) <= 49
    assert not any(f.speaking for f in frames)


async def test_realtime_audio_is_answered_per_chunk() -> None:
    clock = VirtualClock()
    s = make_session(clock=clock)
    await s.start()
    chunk = speech(0.02)
    got_first_at = None
    for i in range(50):
        s.push_audio(chunk)
        clock.advance(0.02)
        pump(s)
        if got_first_at is None and any(f.speaking for f in frames_of(drain(s))):
            got_first_at = i
    # first speech frame after lookahead (80 ms) + one 40 ms frame: within 6 chunks of 20 ms
    assert got_first_at is not None and got_first_at <= 6


async def test_second_utterance_queued_back_to_back() -> None:
    clock = VirtualClock()
    s = make_session(clock=clock, outbox_frames=256)
    await s.start()
    s.push_audio(speech(1.0))
    s.end_utterance()
    s.push_audio(speech(0.5))
    s.end_utterance()
    pump(s)
    evs = events_of(drain(s))
    starts = [e.pts_samples for e in evs if e.type is EventType.UTTERANCE_START]
    ends = [e.pts_samples for e in evs if e.type is EventType.UTTERANCE_END]
    assert starts[0] == 0 and ends[0] == 16000 - 1
    # the flush padding lies between them; the second starts on the frame grid after it
    assert starts[1] > ends[0] and starts[1] % 640 == 0
    assert ends[1] == starts[1] + 8000 - 1


async def test_interrupt_drops_queued_speech_and_returns_to_idle() -> None:
    clock = VirtualClock()
    s = make_session(clock=clock, outbox_frames=10)
    await s.start()
    s.push_audio(speech(5.0))
    pump(s)  # outbox fills with 10 speech frames, then backpressure
    assert s.outbox.frames == 10
    first = frames_of(drain(s)[:4])  # the client shows a few
    s.interrupt()
    pump(s)
    clock.advance(0.5)
    pump(s)
    items = drain(s)
    evs = events_of(items)
    assert [e.type for e in evs] == [EventType.INTERRUPTED]
    stop = evs[0].pts_samples
    frames = frames_of(items)
    assert all(not f.speaking for f in frames if f.pts_samples >= stop)
    assert all(f.pts_samples < stop for f in frames if f.speaking)
    assert len(first) >= 3
    # the interrupt dropped queued speech: the session is idle again and follows the wall clock
    clock.advance(1.0)
    pump(s)
    later = frames_of(drain(s))
    assert later and not any(f.speaking for f in later)


async def test_slow_reader_never_loses_speech_and_memory_stays_bounded() -> None:
    clock = VirtualClock()
    s = make_session(clock=clock, outbox_frames=8)
    await s.start()
    s.push_audio(speech(3.0))
    s.end_utterance()
    got: list[Frame | Event] = []
    for _ in range(200):
        pump(s)
        assert s.outbox.frames <= 8
        for _ in range(3):  # a slow reader: 3 items per step
            item = s.outbox.get_nowait()
            if item is not None:
                got.append(item)
    got += drain(s)
    frames = frames_of(got)
    assert [f.index for f in frames] == list(range(len(frames)))
    assert sum(f.speaking for f in frames) == 75


async def test_unread_idle_session_renders_nothing_then_resumes_without_a_backlog() -> None:
    clock = VirtualClock()
    s = make_session(clock=clock, outbox_frames=8)
    await s.start()
    for _ in range(100):  # 10 s without reading
        clock.advance(0.1)
        pump(s)
        assert s.outbox.frames <= 8
    # The outbox filled, then nothing more was rendered and the idle timeline paused.
    assert s.stream.frames_done == 8
    assert s.stream.samples_pushed < 16000
    items = drain(s)  # the reader comes back
    for _ in range(10):  # one more second, read as it comes
        clock.advance(0.1)
        pump(s)
        items += drain(s)
    assert not events_of(items)  # nothing dropped
    frames = frames_of(items)
    assert [f.index for f in frames] == list(range(len(frames)))
    # Resumed in real time from where it paused: one second of frames, not the 10 s missed.
    assert 8 + 20 <= len(frames) <= 8 + 27
    assert s.stream.frames_done == len(frames)


async def test_a_whole_chunk_of_any_length_is_accepted_and_fed_in_steps() -> None:
    clock = VirtualClock()
    s = make_session(8000, clock=clock, outbox_frames=64)  # max_pending_audio_s 30 s
    await s.start()
    s.push_audio(speech(262.0, sr=8000))  # 4 MiB of PCM16 at 8 kHz, one AudioChunk
    s.end_utterance()
    frames: list[Frame] = []
    for _ in range(2000):
        pump(s)
        fed = s.stream.samples_pushed - s.timeline.pts(s.stream.frames_done)
        assert fed <= 8000 * 30  # the motion stream never holds more than the read-ahead
        frames += frames_of(drain(s))
        if len(frames) >= 262 * 25:
            break
    assert sum(f.speaking for f in frames) == 262 * 25
    assert [f.index for f in frames] == list(range(len(frames)))


async def test_back_to_back_chunks_longer_than_the_read_ahead_are_accepted() -> None:
    clock = VirtualClock()
    s = make_session(clock=clock, outbox_frames=64)
    await s.start()
    frames: list[Frame] = []
    for _ in range(3):  # 40 s each, more than max_pending_audio_s (30 s)
        while s.pending_samples >= 16000 * 30:  # what writable() waits for
            pump(s)
            frames += frames_of(drain(s))
        s.push_audio(speech(40.0))
    s.end_utterance()
    for _ in range(1000):
        pump(s)
        frames += frames_of(drain(s))
    assert sum(f.speaking for f in frames) == 3 * 40 * 25


async def test_interrupt_reanchors_so_idle_resumes_at_once() -> None:
    clock = VirtualClock()
    s = make_session(clock=clock, outbox_frames=512)
    await s.start()
    s.push_audio(speech(10.0))  # a whole line sent ahead of playback
    s.end_utterance()
    pump(s)
    first = frames_of(drain(s))  # the client holds all of it
    assert sum(f.speaking for f in first) == 250
    clock.advance(1.0)  # one second into playback the player barges in
    s.interrupt()
    after: list[Frame | Event] = []
    for _ in range(5):  # the next 0.5 s
        clock.advance(0.1)
        pump(s)
        after += drain(s)
    assert events_of(after)[0].type is EventType.INTERRUPTED
    idle = frames_of(after)
    # Idle frames come at once, in real time, continuing the timeline (not 9 s later).
    assert 8 <= len(idle) <= 14 and not any(f.speaking for f in idle)
    assert idle[0].index == first[-1].index + 1


async def test_writable_applies_backpressure() -> None:
    clock = VirtualClock()
    cfg = SessionConfig(sample_rate_hz=16000)
    backend = FakeBackend()
    s = LiveSession(
        cfg, backend.new_stream(cfg), clock=clock, max_pending_audio_s=1.0, outbox_frames=4
    )
    await s.start()
    s.push_audio(speech(1.5))
    waiter = asyncio.create_task(s.writable())
    await asyncio.sleep(0)
    assert not waiter.done()
    for _ in range(30):
        pump(s)
        drain(s)
    await asyncio.wait_for(waiter, 1)
    await s.aclose()


async def test_finish_flushes_then_ends_iteration() -> None:
    clock = VirtualClock()
    s = make_session(clock=clock)
    await s.start()
    s.push_audio(speech(0.4))
    s.finish()
    pump(s)
    items = [i async for i in s]
    assert events_of(items)[-1].type is EventType.UTTERANCE_END
    assert sum(f.speaking for f in frames_of(items)) == 10
    assert not s.active


async def test_errors_name_their_field() -> None:
    with pytest.raises(AudioError) as e:
        pcm16_from_bytes(b"\x00\x01\x02")
    assert e.value.field == "audio.pcm"
    for bad, field in [
        ({"sample_rate_hz": 7999}, "config.sample_rate_hz"),
        ({"sample_rate_hz": 16000, "size": 300}, "config.size"),
        ({"sample_rate_hz": 16000, "fps": 24}, "config.fps"),
        ({"sample_rate_hz": 16000, "inference_steps": 0}, "config.inference_steps"),
        ({"sample_rate_hz": 16000, "jpeg_quality": 101}, "config.jpeg_quality"),
    ]:
        with pytest.raises(ConfigError) as ce:
            SessionConfig(**bad).validated()  # type: ignore[arg-type]
        assert ce.value.field == field and field in str(ce.value)
