"""The shared runner: one per process, it turns every session's ready audio into frames.

The runner has ``lanes``: one on a GPU, one per core on a CPU. Each lane loops on its own:
it ticks the sessions no lane is computing (queued operations, idle silence), plans a
batch earliest-deadline-first (a session that is due sooner goes first; each session gets
at most ``max_chunk`` frames, a batch at most ``max_batch_frames``, or the shorter
``live_batch_frames`` when it holds a live session), computes it in its
own worker thread, off the event loop (one batched mapper call over the batch's sessions,
one ``render_batch`` per output size over all their frames, then encoding), and delivers
the results into the sessions' bounded outboxes. A session is in at most one batch at a
time, so its stream is only ever touched by one thread, between batches.

The backend may do that compute in worker processes (``compute_pool``, the daemon's default
on a multi-core CPU); the lane's thread then waits on its worker, off the GIL.

On a GPU the single lane's batch is one forward pass. On a CPU the lanes overlap: while
one lane delivers or plans, the others compute, and no lane waits for another at a
barrier. When several lanes are idle, a lane takes only its share of the ready frames,
so a burst (every session's frame ready at once) is split across the cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from lpm_bridge.motion import FloatArray
from lpm_bridge.session import Job, JobResult, LiveSession, MotionSource
from lpm_bridge.session_types import Encoding, SessionConfig

log = logging.getLogger(__name__)
UInt8Array = npt.NDArray[np.uint8]


class Backend(Protocol):
    """The model as the runner sees it; lpm_bridge.backend.LPMBackend is the real one."""

    name: str  # e.g. "lpm-motion (shipped default)"
    device: str  # e.g. "cpu"

    def new_stream(self, config: SessionConfig) -> MotionSource:
        """A fresh motion stream for a session (event loop; cheap)."""

    def motion(self, jobs: Sequence[Job]) -> list[FloatArray]:
        """Generate each job's ``(n, 55)`` motion, batched across sessions (worker thread)."""

    def visemes(self, motion: FloatArray) -> npt.NDArray[np.int64]:
        """``(T, 55)`` motion -> ``(T,)`` viseme indices."""

    def render(self, appearances: Sequence[Any], motion: FloatArray) -> UInt8Array:
        """Row b of ``motion (B, 55)`` with ``appearances[b]`` -> ``(B, H, W, 3)`` uint8."""

    def render_jpeg(
        self, appearances: Sequence[Any], motion: FloatArray, quality: Sequence[int]
    ) -> list[bytes]:
        """Row b of ``motion (B, 55)`` with ``appearances[b]`` -> one JPEG of ``quality[b]``.

        Rendered straight into JPEG's colour space: no RGB frame in between."""


# A session with at most this many frames ready is fed live (real-time audio makes its frames
# ready one or two at a time); one sent ahead of real time has up to max_chunk ready.
LIVE_READY: Final[int] = 4


@dataclass(frozen=True)
class EngineOptions:
    """Scheduling knobs of the shared runner."""

    max_chunk: int = 16  # frames per session per batch: caps what one session takes of a step
    # Frames per batch of one lane: bounds a batch's latency. 0: 32 on a CPU (two lanes
    # overlap), 128 on a GPU (one lane; a bigger forward pass costs little more).
    max_batch_frames: int = 0
    # The same for a batch that holds a live session (one fed at real-time pace, with at
    # most LIVE_READY frames ready): its frames are shown as soon as they arrive, so they
    # must not wait for a long batch. 0: 12 on a CPU, max_batch_frames on a GPU.
    live_batch_frames: int = 0
    # Lanes: threads that each plan, compute (mapper, render, encode; torch ops there run
    # with one intra-op thread each) and deliver their own batches. 0: one per core on a
    # CPU, 1 on a GPU, where a batch should be one forward pass.
    render_workers: int = 0
    tick_s: float = 0.01  # how often idle sessions are ticked when no work is ready


class FrameWorker:
    """The compute of one batch: motion, visemes, render, encode. Runs in a lane's thread.

    One batched mapper call for every job, then one render call per output size and kind
    (JPEG frames are rendered to JPEG directly; raw ones as RGB).
    Sessions share no state, so lanes run batches of different sessions in parallel;
    each torch op runs single-threaded (see ``EngineOptions.render_workers``), so the
    cores work without OpenMP's spinning barriers, which collapse when another thread or
    process (the event loop, a client) wants a core.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def compute(self, jobs: Sequence[Job]) -> list[JobResult]:
        """Motion for every job in one mapper call, then pictures per output size and kind."""
        motions = self.backend.motion(jobs)
        results = [
            JobResult(motion=m, visemes=self.backend.visemes(m), images=None) for m in motions
        ]
        groups: dict[tuple[int, bool], list[int]] = {}
        for i, job in enumerate(jobs):
            cfg = job.session.config
            if cfg.encoding is not Encoding.NONE:
                groups.setdefault((cfg.size, cfg.encoding is Encoding.JPEG), []).append(i)
        for (size, jpeg), members in groups.items():
            appearances = [jobs[i].session.appearance for i in members for _ in range(jobs[i].n)]
            motion = np.concatenate([motions[i] for i in members])
            if jpeg:
                quality = [
                    jobs[i].session.config.jpeg_quality for i in members for _ in range(jobs[i].n)
                ]
                files = self.backend.render_jpeg(appearances, motion, quality)
            else:
                pictures = self.backend.render(appearances, motion)
            offset = 0
            for i in members:
                n = jobs[i].n
                results[i].images = (
                    files[offset : offset + n]
                    if jpeg
                    else self._raw(pictures[offset : offset + n], jobs[i].session.config)
                )
                results[i].width = results[i].height = size
                offset += n
        return results

    @staticmethod
    def _raw(pictures: UInt8Array, cfg: SessionConfig) -> list[bytes]:
        if cfg.encoding is Encoding.RGBA8:
            alpha = np.full((*pictures.shape[:-1], 1), 255, dtype=np.uint8)
            pictures = np.concatenate([pictures, alpha], axis=-1)
        return [np.ascontiguousarray(p).tobytes() for p in pictures]


class Engine:
    """The process-wide session runner (see module docstring). ``start()`` / ``aclose()``."""

    def __init__(self, backend: Backend, options: EngineOptions | None = None) -> None:
        self.backend = backend
        self.options = options or EngineOptions()
        self.worker = FrameWorker(backend)
        self._sessions: dict[str, LiveSession] = {}
        self._busy: set[str] = set()  # sessions with a batch in flight in some lane
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._preloads: set[asyncio.Future[None]] = set()
        self._executor: ThreadPoolExecutor | None = None
        self.lanes = 1
        self.batch_frames = 32  # max_batch_frames in effect (set by start)
        self.live_batch_frames = 12  # live_batch_frames in effect (set by start)
        self._computing = 0  # lanes with a batch in their thread right now
        self.batches = 0  # counters for GetServerInfo / benchmarks
        self.frames = 0

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    async def start(self) -> None:
        on_cpu = self.backend.device == "cpu"
        self.lanes = self.options.render_workers or ((os.cpu_count() or 1) if on_cpu else 1)
        self.batch_frames = self.options.max_batch_frames or (32 if on_cpu else 128)
        self.live_batch_frames = min(
            self.batch_frames, self.options.live_batch_frames or (12 if on_cpu else 128)
        )
        self._executor = ThreadPoolExecutor(self.lanes, thread_name_prefix="lpm-lane")
        for i in range(self.lanes):
            task = asyncio.create_task(self._lane(), name=f"lpm-lane-{i}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Cancel the lanes, wait for them (and batches in flight), end every session."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for session in list(self._sessions.values()):
            await session.aclose()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # Runner protocol (session.py)
    def add(self, session: LiveSession) -> None:
        self._sessions[session.id] = session
        if session.appearance is not None:
            self.preload(session.appearance)
        self.wake()

    def preload(self, appearance: Any) -> asyncio.Future[None]:
        """Have the backend get ``appearance`` ready (a backend with compute processes sends
        the face to them) off the event loop and off the lanes, now rather than with the
        first batch that draws it. Best effort: a failure is logged, and the face then
        travels with that batch. Awaiting the result is optional."""
        preload = getattr(self.backend, "preload", None)
        if preload is None:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        task = asyncio.get_running_loop().run_in_executor(None, preload, appearance)
        self._preloads.add(task)
        task.add_done_callback(self._preload_done)
        return asyncio.shield(task)

    def _preload_done(self, task: asyncio.Future[None]) -> None:
        self._preloads.discard(task)
        if not task.cancelled() and task.exception() is not None:  # its first batch sends it
            log.warning("preloading an appearance failed: %s", task.exception())

    def remove(self, session: LiveSession) -> None:
        self._sessions.pop(session.id, None)

    def wake(self) -> None:
        self._wake.set()

    async def _lane(self) -> None:
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:  # never let one bad batch stop every session
                log.exception("engine step failed")
                await asyncio.sleep(self.options.tick_s)

    def plan(self) -> list[Job]:
        """Tick the sessions no lane holds and pick a batch, earliest deadline first.

        The batch takes at most this lane's share of the ready frames: all of them when
        the other lanes are computing, half when one other lane is idle, and so on.
        """
        self._wake.clear()
        sessions = [s for s in self._sessions.values() if s.id not in self._busy]
        for session in sessions:
            try:
                session.tick()
            except Exception as e:  # one session's bad state must not stop the others
                log.exception("session %s failed", session.id)
                session.fail(e)
                self.remove(session)
        cap = self.batch_frames
        wanted: list[tuple[LiveSession, int]] = []
        total = 0
        for session in sorted((s for s in sessions if s.active), key=LiveSession.due):
            n = session.plan(min(self.options.max_chunk, cap))
            if n > 0:
                wanted.append((session, n))
                total += n
        if any(n <= LIVE_READY for _, n in wanted):
            # A live session's frames are due as their audio arrives; a long batch would
            # hold them (and those of every session in it) past their time. Sessions sent
            # ahead of real time (TTS lines) keep the long batches that serve them fastest.
            cap = self.live_batch_frames
        idle = max(1, self.lanes - self._computing)
        budget = min(cap, math.ceil(total / idle))
        jobs: list[Job] = []
        for session, n in wanted:
            if budget <= 0:
                break
            n = min(n, budget)
            jobs.append(session.make_job(n))
            self._busy.add(session.id)
            budget -= n
        return jobs

    async def step(self) -> None:
        """One batch of one lane: plan, compute in the lane's thread, deliver."""
        jobs = self.plan()
        if not jobs:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.options.tick_s)
            return
        loop = asyncio.get_running_loop()
        self._computing += 1
        try:
            results = await loop.run_in_executor(self._executor, self.worker.compute, jobs)
        except Exception as e:
            log.exception("batch of %d sessions failed", len(jobs))
            for job in jobs:
                job.session.fail(e)
            return
        finally:
            self._computing -= 1
            self._busy.difference_update(job.session.id for job in jobs)
            self.wake()  # those sessions can be planned again, by any lane
        self.batches += 1
        for job, result in zip(jobs, results, strict=True):
            self.frames += job.n
            job.session.deliver(job, result)
