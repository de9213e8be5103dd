"""The shared runner: batching across sessions, fairness, and lifecycle (fake backend)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest
from bridge_fakes import FakeBackend

from lpm_bridge.engine import Engine, EngineOptions
from lpm_bridge.session import Job, LiveSession
from lpm_bridge.session_types import Encoding, EventType, Frame, SessionConfig


def open_session(engine: Engine, backend: FakeBackend, **kw: object) -> LiveSession:
    cfg = SessionConfig(sample_rate_hz=16000, **kw)  # type: ignore[arg-type]
    return LiveSession(
        cfg, backend.new_stream(cfg), appearance="face", runner=engine, outbox_frames=512
    )


async def speak(sessions: list[LiveSession], samples: int) -> None:
    """Start each session and give it one finished line of ``samples`` loud samples."""
    for s in sessions:
        await s.start()
        s.push_audio(np.full(samples, 500, dtype=np.int16))
        s.finish()


async def collect(session: LiveSession) -> list[Frame]:
    return [item async for item in session if isinstance(item, Frame)]


async def four_clips(render_workers: int) -> tuple[FakeBackend, Engine, list[list[Frame]]]:
    """Four sessions each finishing a 1 s clip on one engine; every session's frames."""
    backend = FakeBackend()
    options = EngineOptions(
        max_chunk=4, max_batch_frames=16, tick_s=0.005, render_workers=render_workers
    )
    engine = Engine(backend, options)
    await engine.start()
    try:
        sessions = [open_session(engine, backend, encoding=Encoding.RGBA8) for _ in range(4)]
        await speak(sessions, 16000)
        results = await asyncio.wait_for(asyncio.gather(*(collect(s) for s in sessions)), 10)
    finally:
        await engine.aclose()
    return backend, engine, results


async def test_sessions_share_batches_and_all_finish() -> None:
    # One worker: the whole batch is one mapper call (as on a GPU).
    backend, engine, results = await four_clips(render_workers=1)
    for frames in results:
        assert sum(f.speaking for f in frames) == 25
        assert all(f.image is not None and len(f.image) == 8 * 8 * 4 for f in frames)
    assert max(backend.batches) == 4  # one mapper call carried all four sessions
    assert engine.sessions == 0  # finished sessions unregister themselves


async def test_lanes_split_ready_work_and_keep_every_frame() -> None:
    backend, engine, results = await four_clips(render_workers=2)
    for frames in results:
        assert [f.index for f in frames] == list(range(len(frames)))
        assert sum(f.speaking for f in frames) == 25
        assert all(f.image is not None and len(f.image) == 8 * 8 * 4 for f in frames)
    # Two idle lanes share a burst: neither takes all four sessions at once.
    assert max(backend.batches) == 2
    assert engine.lanes == 2


async def test_a_session_is_in_one_batch_at_a_time() -> None:
    """Lanes overlap, but never on one session: its frames come out whole and in order."""

    class Recording(FakeBackend):
        def __init__(self) -> None:
            super().__init__()
            self.in_flight: set[str] = set()
            self.overlaps = 0
            self.lock = threading.Lock()

        def motion(self, jobs: Sequence[Job]) -> list[np.ndarray]:
            ids = {job.session.id for job in jobs}
            with self.lock:
                self.overlaps += len(ids & self.in_flight)
                self.in_flight |= ids
            time.sleep(0.002)  # hold the batch so the other lane runs meanwhile
            out = super().motion(jobs)
            with self.lock:
                self.in_flight -= ids
            return out

    backend = Recording()
    engine = Engine(backend, EngineOptions(max_chunk=2, max_batch_frames=4, render_workers=2))
    await engine.start()
    try:
        sessions = [open_session(engine, backend) for _ in range(3)]
        await speak(sessions, 8000)
        results = await asyncio.wait_for(asyncio.gather(*(collect(s) for s in sessions)), 10)
    finally:
        await engine.aclose()
    assert backend.overlaps == 0
    assert len(backend.batches) > 3 and max(backend.batches) <= 2
    for frames in results:
        assert [f.index for f in frames] == list(range(len(frames)))
        assert sum(f.speaking for f in frames) == 13


async def test_a_long_clip_does_not_starve_a_short_one() -> None:
    backend = FakeBackend()
    engine = Engine(backend, EngineOptions(max_chunk=4, max_batch_frames=8, tick_s=0.005))
    await engine.start()
    try:
        long, short = open_session(engine, backend), open_session(engine, backend)
        await long.start()
        long.push_audio(np.full(16000 * 20, 500, dtype=np.int16))
        long.finish()
        await asyncio.sleep(0.01)
        await short.start()
        short.push_audio(np.full(8000, 500, dtype=np.int16))
        short.finish()
        short_task = asyncio.create_task(collect(short))
        long_task = asyncio.create_task(collect(long))
        await asyncio.wait_for(short_task, 10)
        assert not long_task.done()  # the short one finished first
        await asyncio.wait_for(long_task, 20)
    finally:
        await engine.aclose()


async def test_aclose_ends_every_session() -> None:
    backend = FakeBackend()
    engine = Engine(backend, EngineOptions(tick_s=0.005))
    await engine.start()
    s = open_session(engine, backend, encoding=Encoding.NONE)
    await s.start()
    s.push_audio(np.full(1600, 500, dtype=np.int16))
    first = await asyncio.wait_for(s.__anext__(), 5)
    assert getattr(first, "type", None) in (None, EventType.UTTERANCE_START)
    await engine.aclose()
    rest = [item async for item in s]  # iteration ends instead of hanging
    assert isinstance(rest, list) and not s.active


async def test_a_failing_batch_fails_its_sessions_and_the_other_lane_goes_on() -> None:
    """A model error fails the sessions of that batch (their readers get the error); the
    runner keeps serving every other session, on both lanes."""

    class Flaky(FakeBackend):
        def motion(self, jobs: Sequence[Job]) -> list[np.ndarray]:
            if any(job.session.config.seed == 13 for job in jobs):
                raise RuntimeError("model blew up")
            return super().motion(jobs)

    backend = Flaky()
    engine = Engine(backend, EngineOptions(max_chunk=2, max_batch_frames=2, render_workers=2))
    await engine.start()
    try:
        bad = open_session(engine, backend, seed=13)
        good = [open_session(engine, backend, seed=k) for k in range(3)]
        await speak([bad, *good], 8000)
        with pytest.raises(RuntimeError, match="model blew up"):
            await asyncio.wait_for(collect(bad), 10)
        results = await asyncio.wait_for(asyncio.gather(*(collect(s) for s in good)), 10)
    finally:
        await engine.aclose()
    for frames in results:
        assert sum(f.speaking for f in frames) == 13


async def test_live_sessions_get_short_batches_tts_lines_long_ones() -> None:
    """A batch that holds a live session (audio at real-time pace, a frame or two ready) is
    capped at ``live_batch_frames``, so no live frame waits for a long batch; lines sent at
    once (TTS clips) still go in batches up to ``max_batch_frames``, which serve them fastest."""

    class Slow(FakeBackend):
        def __init__(self) -> None:
            super().__init__()
            self.sizes: list[int] = []

        def motion(self, jobs: Sequence[Job]) -> list[np.ndarray]:
            self.sizes.append(sum(job.n for job in jobs))
            time.sleep(0.03)  # a slow model: frames pile up while a batch computes
            return super().motion(jobs)

    backend = Slow()
    options = EngineOptions(
        max_chunk=8, max_batch_frames=24, live_batch_frames=6, render_workers=1, tick_s=0.005
    )
    engine = Engine(backend, options)
    await engine.start()
    try:
        lines = [open_session(engine, backend, encoding=Encoding.NONE) for _ in range(4)]
        await speak(lines, 16000)
        await asyncio.wait_for(asyncio.gather(*(collect(s) for s in lines)), 20)
        burst = list(backend.sizes)
        live = [open_session(engine, backend, encoding=Encoding.NONE) for _ in range(8)]
        for s in live:
            await s.start()
        readers = [asyncio.create_task(collect(s)) for s in live]
        backend.sizes.clear()
        for _ in range(40):  # 0.8 s of live audio, 20 ms at a time, every session
            for s in live:
                s.push_audio(np.full(320, 500, dtype=np.int16))
            await asyncio.sleep(0.02)
        streamed = list(backend.sizes)
        for s in live:
            s.finish()
        await asyncio.wait_for(asyncio.gather(*readers), 20)
    finally:
        await engine.aclose()
    assert max(burst) > 6  # the lines were served in long batches
    assert len(streamed) >= 10 and max(streamed) <= 6, streamed
    # ... and the cap bound: eight live sessions behind a 30 ms batch had more ready.
    assert streamed.count(6) >= 3, streamed
