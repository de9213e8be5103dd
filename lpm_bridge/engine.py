"""The shared runner: one per process, it turns every session's ready audio into frames.

Each step it ticks all sessions (queued operations, idle silence), plans a batch
earliest-deadline-first (a session that is due sooner goes first; each session gets at
most ``max_chunk`` frames, the batch at most ``max_batch_frames``), and computes the
whole batch in one worker thread, off the event loop: one batched mapper call over all
sessions' requests, one ``render_batch`` per output size over all their frames, then
encoding. On a GPU the same batch is one forward pass; on a CPU the fixed budget per
step shares the cores fairly. Results go into the sessions' bounded outboxes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

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

    def encode_jpeg(self, frames: UInt8Array, quality: int) -> list[bytes]:
        """``(B, H, W, 3)`` uint8 -> B JPEG files."""


@dataclass(frozen=True)
class EngineOptions:
    """Scheduling knobs of the shared runner."""

    max_chunk: int = 16  # frames per session per batch: caps what one session takes of a step
    max_batch_frames: int = 64  # frames per batch over all sessions: bounds a step's latency
    # Threads that each run a share of a batch's sessions (mapper, render, encode; torch ops
    # there run with one intra-op thread each). 0: one per core on a CPU, 1 on a GPU, where
    # the whole batch should be one forward pass.
    render_workers: int = 0
    tick_s: float = 0.01  # how often idle sessions are ticked when no work is ready


class FrameWorker:
    """The compute of one batch: motion, visemes, render, encode. Runs in the worker thread.

    With a ``render_pool`` the batch's jobs are split by session into one group per pool
    thread, and each thread runs the whole chain for its group (one batched mapper call,
    then rendering and encoding). Sessions share no state, so the groups are independent;
    each torch op runs single-threaded (see ``EngineOptions.render_workers``), so the cores
    work in parallel without OpenMP's spinning barriers, which collapse when another thread
    or process (the event loop, a client) wants a core.
    """

    def __init__(
        self, backend: Backend, render_pool: ThreadPoolExecutor | None = None, workers: int = 1
    ) -> None:
        self.backend = backend
        self.render_pool = render_pool
        self.workers = workers if render_pool is not None else 1

    def compute(self, jobs: Sequence[Job]) -> list[JobResult]:
        groups = _split(jobs, self.workers)
        if self.render_pool is None or len(groups) < 2:
            return self.compute_group(jobs)
        futures = [self.render_pool.submit(self.compute_group, group) for group in groups]
        return [result for future in futures for result in future.result()]

    def compute_group(self, jobs: Sequence[Job]) -> list[JobResult]:
        """Motion for every job in one mapper call, then pictures per output size."""
        motions = self.backend.motion(jobs)
        results = [
            JobResult(motion=m, visemes=self.backend.visemes(m), images=None) for m in motions
        ]
        by_size: dict[int, list[int]] = {}
        for i, job in enumerate(jobs):
            if job.session.config.encoding is not Encoding.NONE:
                by_size.setdefault(job.session.config.size, []).append(i)
        for size, members in by_size.items():
            appearances = [jobs[i].session.appearance for i in members for _ in range(jobs[i].n)]
            pictures = self.backend.render(
                appearances, np.concatenate([motions[i] for i in members])
            )
            offset = 0
            for i in members:
                n = jobs[i].n
                results[i].images = self._encode(
                    pictures[offset : offset + n], jobs[i].session.config
                )
                results[i].width = results[i].height = size
                offset += n
        return results

    def _encode(self, pictures: UInt8Array, cfg: SessionConfig) -> list[bytes]:
        if cfg.encoding is Encoding.JPEG:
            return self.backend.encode_jpeg(pictures, cfg.jpeg_quality)
        if cfg.encoding is Encoding.RGBA8:
            alpha = np.full((*pictures.shape[:-1], 1), 255, dtype=np.uint8)
            pictures = np.concatenate([pictures, alpha], axis=-1)
        return [np.ascontiguousarray(p).tobytes() for p in pictures]


def _split(jobs: Sequence[Job], k: int) -> list[Sequence[Job]]:
    """Split jobs into at most ``k`` runs of about equal frame counts, keeping batch order."""
    total = sum(job.n for job in jobs)
    groups: list[Sequence[Job]] = []
    start = done = 0
    for i, job in enumerate(jobs):
        done += job.n
        if done * k >= total * (len(groups) + 1) and len(groups) < k - 1:
            groups.append(jobs[start : i + 1])
            start = i + 1
    if start < len(jobs):
        groups.append(jobs[start:])
    return groups


class Engine:
    """The process-wide session runner (see module docstring). ``start()`` / ``aclose()``."""

    def __init__(self, backend: Backend, options: EngineOptions | None = None) -> None:
        self.backend = backend
        self.options = options or EngineOptions()
        self._render_pool: ThreadPoolExecutor | None = None
        self.worker = FrameWorker(backend)
        self._sessions: dict[str, LiveSession] = {}
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._executor: ThreadPoolExecutor | None = None
        self.batches = 0  # counters for GetServerInfo / benchmarks
        self.frames = 0

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lpm-worker")
        on_cpu = self.backend.device == "cpu"
        workers = self.options.render_workers or ((os.cpu_count() or 1) if on_cpu else 1)
        if workers > 1:
            self._render_pool = ThreadPoolExecutor(workers, thread_name_prefix="lpm-render")
            self.worker = FrameWorker(self.backend, self._render_pool, workers)
        task = asyncio.create_task(self._run(), name="lpm-engine")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Cancel the loop, wait for it (and the batch in flight), end every session."""
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
        if self._render_pool is not None:
            self._render_pool.shutdown(wait=True)
            self._render_pool = None
            self.worker = FrameWorker(self.backend)

    # Runner protocol (session.py)
    def add(self, session: LiveSession) -> None:
        self._sessions[session.id] = session
        self.wake()

    def remove(self, session: LiveSession) -> None:
        self._sessions.pop(session.id, None)

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:  # never let one bad batch stop every session
                log.exception("engine step failed")
                await asyncio.sleep(self.options.tick_s)

    def plan(self) -> list[Job]:
        """Tick every session and pick this step's jobs, earliest deadline first."""
        self._wake.clear()
        sessions = list(self._sessions.values())
        for session in sessions:
            try:
                session.tick()
            except Exception as e:  # one session's bad state must not stop the others
                log.exception("session %s failed", session.id)
                session.fail(e)
                self.remove(session)
        budget = self.options.max_batch_frames
        jobs: list[Job] = []
        for session in sorted((s for s in sessions if s.active), key=LiveSession.due):
            n = session.plan(min(self.options.max_chunk, budget))
            if n > 0:
                jobs.append(session.make_job(n))
                budget -= n
                if budget <= 0:
                    break
        return jobs

    async def step(self) -> None:
        """One scheduling step: plan, compute in the worker thread, deliver."""
        jobs = self.plan()
        if not jobs:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.options.tick_s)
            return
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self._executor, self.worker.compute, jobs)
        except Exception as e:
            log.exception("batch of %d sessions failed", len(jobs))
            for job in jobs:
                job.session.fail(e)
            return
        self.batches += 1
        for job, result in zip(jobs, results, strict=True):
            self.frames += job.n
            job.session.deliver(job, result)
