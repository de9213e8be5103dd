"""Compute processes: the mapper's sampling, the renderer and the JPEG encoder in worker
processes, for the lanes.

Role in the bridge: the two compute stages of a batch moved out of the daemon's process.
Both are made of small torch ops (the renderer a few hundred per chunk, the mapper ~50 per
ODE step), and each op takes the GIL back between its kernels; the daemon's lanes, its
event loop and gRPC all want that GIL too. Measured on the 2-core bench machine, two
threads of one process rendered 1.43x what one thread did (1108 vs 776 frames/s at 256,
7-frame chunks), two processes 2x. Every session's motion stream stays in the daemon: a
lane sends the batch's ``ChunkRequest``s (a chunk's audio windows, state buffer and noise:
pure inputs) to a worker and gets the motion back, then sends the motion rows and gets JPEG
files (or raw RGB frames) back.

Each worker process keeps the appearances it has been sent, keyed by a number the pool
gives each ``Appearance`` object: an appearance crosses the pipe once per worker (~5 MB at
256), and is dropped there when the daemon lets go of it. A worker that dies is started
again and the call retried once on the new one. Motion and frames are the numbers the
daemon itself would make (same code, same inputs, the same checkpoint loaded by each worker).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import pickle
import queue
import signal
import socket
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import numpy.typing as npt

from lpm_bridge.appearance import Appearance

log = logging.getLogger(__name__)
UInt8Array = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]
_NO_MOTION: FloatArray = np.zeros((0, 55), np.float32)


@dataclass(frozen=True)
class _Sample:
    """One mapper call, as it crosses the pipe: ``sample_batch`` of these chunks."""

    requests: list[Any]  # lpm_bridge.mapper.ChunkRequest


@dataclass(frozen=True)
class _Request:
    """One render call, as it crosses the pipe."""

    kind: str  # "jpeg", "rgb", or "load" (take the new appearances, render nothing)
    new: list[tuple[int, Appearance]]  # appearances this worker has not been sent yet
    rows: list[int]  # appearance key of each motion row
    motion: FloatArray  # (B, 55)
    quality: list[int] | None  # per row, JPEG only
    drop: list[int] = field(default_factory=list)  # keys the daemon no longer holds


def render_jpeg(
    renderer: Any, appearances: Sequence[Appearance], motion: FloatArray, quality: Sequence[int]
) -> list[bytes]:
    """Row b of ``motion (B, 55)`` with ``appearances[b]`` -> one JPEG of ``quality[b]``, via
    the renderer's YCbCr 4:2:0 planes (no RGB frame in between). In-process and in workers."""
    from lpm_bridge.frames import encode_jpeg_420

    planes = renderer.render_batch_ycbcr420(list(appearances), motion)
    files: list[bytes] = []
    start = 0
    while start < len(quality):  # one encoder call per run of one quality
        end = start + 1
        while end < len(quality) and quality[end] == quality[start]:
            end += 1
        files += encode_jpeg_420(planes[start:end], quality[start])
        start = end
    return files


def worker_main(fd: int, model_path: str | None) -> None:
    """Entry point of a compute process (``python -m lpm_bridge.compute_pool FD [MODEL]``)."""
    # Ctrl-C in a terminal reaches the whole process group: the daemon drains and then ends
    # its workers itself; a worker that died of the signal first would fail the last batches.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _serve(Connection(fd), model_path)


def _serve(conn: Connection, model_path: str | None) -> None:
    """A worker's loop: requests in, ("ok", result) or ("error", text) out; None ends it."""
    import torch

    from lpm_bridge.allocator import keep_batch_buffers
    from lpm_bridge.mapper import load_motion_net, sample_batch
    from lpm_bridge.renderer import Renderer

    torch.set_num_threads(1)  # one worker per lane: the cores are the workers
    keep_batch_buffers()
    renderer = Renderer()
    # The plain-torch network: loading it as a PreTrainedModel would import transformers'
    # modeling code, ~135 MB and ~2.7 s more per process, for the same weights and outputs.
    model = load_motion_net(model_path or None)
    cache: dict[int, Appearance] = {}
    while True:
        try:
            req = _recv(conn)
        except (EOFError, OSError):  # the daemon is gone
            return
        if req is None:
            return
        if req == "size":
            _send(conn, ("ok", len(cache)))
            continue
        try:
            if isinstance(req, _Sample):
                _send(conn, ("ok", sample_batch(model, req.requests)))
                continue
            for key in req.drop:
                cache.pop(key, None)
            cache.update(req.new)
            apps = [cache[k] for k in req.rows]
            if req.kind == "load":
                for _, app in req.new:
                    renderer.prepare(app)
                out: Any = None
            elif req.kind == "jpeg":
                out = render_jpeg(renderer, apps, req.motion, req.quality)
            else:
                out = renderer.render_batch(apps, req.motion)
            reply: tuple[str, Any] = ("ok", out)
        except Exception as e:  # report, keep serving
            reply = ("error", f"{type(e).__name__}: {e}")
        try:
            _send(conn, reply)
        except OSError:  # the daemon is gone
            return


# Plain pickle, not Connection.send: torch registers its own reducers with multiprocessing's
# pickler, which pass tensors as shared-memory handles that only multiprocessing's own
# children (sharing its auth key) can open. Tensors here are copied into the message.
def _send(conn: Connection, obj: Any) -> None:
    conn.send_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def _recv(conn: Connection) -> Any:
    return pickle.loads(conn.recv_bytes())


class _Worker:
    """One compute process and what the daemon has sent it.

    A plain ``python -m`` child on one end of a socket pair, not a multiprocessing ``spawn``
    child: that one re-imports the parent's ``__main__``, which a daemon started from a
    script, a REPL or a test runner may not allow.
    """

    def __init__(self, model_path: str | None) -> None:
        ours, theirs = socket.socketpair()
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        path = os.environ.get("PYTHONPATH")
        env = dict(os.environ, PYTHONPATH=package_root + (os.pathsep + path if path else ""))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lpm_bridge.compute_pool", str(theirs.fileno())]
            + ([model_path] if model_path else []),
            pass_fds=[theirs.fileno()],
            env=env,
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self.conn = Connection(ours.detach())
        self.known: set[int] = set()
        self.drop: list[int] = []

    def call(self, req: _Request | _Sample | str) -> Any:
        _send(self.conn, req)
        status, out = _recv(self.conn)
        if status != "ok":
            raise RuntimeError(f"compute process failed: {out}")
        return out

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        with contextlib.suppress(OSError):
            _send(self.conn, None)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)
        self.conn.close()


class ComputePool:
    """``workers`` compute processes; ``sample``, ``render``, ``render_jpeg`` from any thread.

    A call takes an idle worker (waiting for one if every worker is busy: with one worker
    per lane, none is), sends its inputs (a render call also any appearance the worker
    lacks) and returns the worker's result. ``close()`` ends the processes.
    """

    def __init__(self, workers: int, model_path: str | None = None) -> None:
        if workers < 1:
            raise ValueError("a compute pool needs at least one worker")
        # Re-entrant: a collected appearance's finaliser (_forget) may run inside a locked block.
        self._lock = threading.RLock()
        self._keys: weakref.WeakKeyDictionary[Appearance, int] = weakref.WeakKeyDictionary()
        self._next = itertools.count()
        self._model_path = model_path  # the mapper checkpoint; None: the shipped one
        self._workers = [_Worker(model_path) for _ in range(workers)]
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        for w in self._workers:
            self._idle.put(w)
        self._closed = False

    @property
    def workers(self) -> int:
        return len(self._workers)

    def sample(self, requests: list[Any]) -> list[FloatArray]:
        """``mapper.sample_batch`` of ``requests`` (``ChunkRequest``s) in a worker: the same
        numbers as in the daemon (same code, same inputs; each worker loads the same
        checkpoint)."""
        out: list[FloatArray] = self._run(lambda w: w.call(_Sample(requests)))
        return out

    def render(self, appearances: Sequence[Appearance], motion: FloatArray) -> UInt8Array:
        """Row b of ``motion (B, 55)`` with ``appearances[b]``: ``(B, S, S, 3) uint8`` RGB."""
        out: UInt8Array = self._call("rgb", appearances, motion, None)
        return out

    def render_jpeg(
        self, appearances: Sequence[Appearance], motion: FloatArray, quality: Sequence[int]
    ) -> list[bytes]:
        """Row b of ``motion (B, 55)`` with ``appearances[b]`` -> one JPEG of ``quality[b]``."""
        out: list[bytes] = self._call("jpeg", appearances, motion, list(quality))
        return out

    def warm(self, appearances: Sequence[Appearance], requests: list[Any]) -> None:
        """Sample ``requests`` and render a frame of each appearance (one per output size) in
        every worker, so no client pays a worker's first calls (the first frame at a size
        also sets up that size's buffers: 73 vs 18 ms for four rows at 512)."""
        with self._every_worker() as workers:
            for w in workers:
                w.call(_Sample(requests))
                for app in appearances:
                    self._send(w, "jpeg", [app], np.zeros((1, 55), np.float32), [85])

    def preload(self, appearance: Appearance) -> None:
        """Send ``appearance`` to the workers that lack it, now (a session's start) rather than
        with its first batch, where it would hold up every session in that batch: ~10 ms a
        worker at 256, ~50 at 512. Best effort: takes idle workers as they come, a few times
        over; a worker still without it gets it with its first batch of it."""
        key = self._key(appearance)
        for _ in range(2 * len(self._workers)):
            if self._closed or all(key in w.known for w in self._workers):
                return
            w = self._idle.get()
            try:
                if key not in w.known:
                    self._send(w, "load", [appearance], _NO_MOTION, None)
            except (EOFError, OSError):
                pass  # a dead worker is replaced at its next batch
            finally:
                self._idle.put(w)

    def cached(self) -> list[int]:
        """How many appearances each worker holds (for tests and diagnostics)."""
        with self._every_worker() as workers:
            return [w.call("size") for w in workers]

    def close(self) -> None:
        """End every worker (waits for calls in flight to come back first)."""
        if self._closed:
            return
        self._closed = True
        for _ in self._workers:
            self._idle.get().stop()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            for w in self._workers:
                if w.alive():
                    w.process.kill()

    # ------------------------------------------------------------ internals

    @contextlib.contextmanager
    def _every_worker(self) -> Iterator[list[_Worker]]:
        """Every worker, each taken when idle and put back after."""
        taken = [self._idle.get() for _ in self._workers]
        try:
            yield taken
        finally:
            for w in taken:
                self._idle.put(w)

    def _key(self, app: Appearance) -> int:
        with self._lock:
            key = self._keys.get(app)
            if key is None:
                key = self._keys[app] = next(self._next)
                weakref.finalize(app, self._forget, key)
            return key

    def _forget(self, key: int) -> None:
        """An appearance was collected: tell each worker that holds it, with its next call."""
        with self._lock:
            for w in self._workers:
                if key in w.known:
                    w.known.discard(key)
                    w.drop.append(key)

    def _call(
        self,
        kind: str,
        appearances: Sequence[Appearance],
        motion: FloatArray,
        quality: list[int] | None,
    ) -> Any:
        return self._run(lambda w: self._send(w, kind, appearances, motion, quality))

    def _run(self, fn: Any) -> Any:
        """``fn(worker)`` on an idle worker; a dead worker is replaced and ``fn`` retried once."""
        if self._closed:
            raise RuntimeError("compute pool is closed")
        w = self._idle.get()
        try:
            try:
                return fn(w)
            except (EOFError, OSError) as e:  # the process died: start another, retry once
                log.warning("compute process %s died (%s); starting another", w.process.pid, e)
                w = self._replace(w)
                return fn(w)
        finally:
            self._idle.put(w)

    def _send(
        self,
        w: _Worker,
        kind: str,
        appearances: Sequence[Appearance],
        motion: FloatArray,
        quality: list[int] | None,
    ) -> Any:
        keys = [self._key(a) for a in appearances]
        new: dict[int, Appearance] = {}
        for key, app in zip(keys, appearances, strict=True):
            if key not in w.known:
                new[key] = app
        rows = [] if kind == "load" else keys
        with self._lock:
            drop, w.drop = w.drop, []
        out = w.call(_Request(kind, list(new.items()), rows, motion, quality, drop))
        with self._lock:
            w.known.update(new)
        return out

    def _replace(self, dead: _Worker) -> _Worker:
        dead.stop(timeout=1.0)
        fresh = _Worker(self._model_path)
        self._workers[self._workers.index(dead)] = fresh
        return fresh


if __name__ == "__main__":
    # Through the package module, not this ``__main__`` copy of it: requests are pickled as
    # ``lpm_bridge.compute_pool`` classes, which the loop must recognise as its own.
    from lpm_bridge import compute_pool

    compute_pool.worker_main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)
