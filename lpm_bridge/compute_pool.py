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
256), and is dropped there when the daemon lets go of it. A worker that dies leaves the
rotation at once: its call is retried on a survivor, and the survivors serve every lane
while a replacement starts in the background (importing torch and loading the model take
seconds, which a synchronous restart made every live session wait). The replacement joins
once it holds every face the daemon holds and has made its first calls. Motion and frames
are the numbers the daemon itself would make (same code, same inputs, the same checkpoint
loaded by each worker).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import numpy.typing as npt

from lpm_bridge.appearance import Appearance
from lpm_bridge.errors import UnavailableError

log = logging.getLogger(__name__)
UInt8Array = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]
_NO_MOTION: FloatArray = np.zeros((0, 55), np.float32)
# A batch whose worker died is retried once, on another worker: a batch that kills every
# worker it meets (a crash on some input) must not take the whole pool down with it.
_ATTEMPTS = 2
# Tries to start a replacement (one that dies while loading: a checkpoint gone, no memory)
# and the pause between them.
START_ATTEMPTS = 3
START_RETRY_S = 1.0
# With no worker alive, how long a call waits for the first replacement (~5.5 s to start on
# the 2-core bench machine, more when loaded) before it fails UNAVAILABLE.
NO_WORKER_WAIT_S = 30.0
# Faces per message while a replacement catches up (~5 MB each at 256): bounds a message.
_LOAD_GROUP = 4


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

    def kill(self) -> None:
        """End the process now: a dead or stuck worker has nothing to finish."""
        self.process.kill()
        self.process.wait()
        self.conn.close()


@dataclass
class _Ticket:
    """A caller waiting for a worker; ``_give`` hands the next free one to the first ticket."""

    worker: _Worker | None = None


class ComputePool:
    """``workers`` compute processes; ``sample``, ``render``, ``render_jpeg`` from any thread.

    A call takes an idle worker (waiting for one if every worker is busy: with one worker
    per lane, none is), sends its inputs (a render call also any appearance the worker
    lacks) and returns the worker's result. A worker found dead leaves the rotation at once:
    the call is retried on a survivor (inputs are pure: same result), and a replacement
    starts in a background thread, joining only once it has every live face and has made
    its first calls. ``close()`` ends the processes.
    """

    def __init__(self, workers: int, model_path: str | None = None) -> None:
        if workers < 1:
            raise ValueError("a compute pool needs at least one worker")
        # Re-entrant: a collected appearance's finaliser (_forget) may run inside a locked block.
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)  # a worker came back, joined or left
        self._keys: weakref.WeakKeyDictionary[Appearance, int] = weakref.WeakKeyDictionary()
        self._next = itertools.count()
        self._model_path = model_path  # the mapper checkpoint; None: the shipped one
        self._size = workers
        self._live = [_Worker(model_path) for _ in range(workers)]  # in rotation
        self._idle: collections.deque[_Worker] = collections.deque(self._live)
        self._line: collections.deque[_Ticket] = collections.deque()  # callers waiting
        self._starting: list[_Worker] = []  # replacements catching up, not yet in rotation
        self._restarters: set[threading.Thread] = set()
        self._warm_requests: list[Any] = []  # warm()'s mapper inputs, replayed by replacements
        self.restarts = 0  # dead workers taken out of rotation, each with a replacement started
        self._closed = False

    @property
    def workers(self) -> int:
        return self._size

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
        also sets up that size's buffers: 73 vs 18 ms for four rows at 512). Replacements
        replay ``requests`` before they join."""
        self._warm_requests = list(requests)
        with self._every_worker() as workers:
            for w in workers:
                w.call(_Sample(requests))
                for app in appearances:
                    self._send(w, "jpeg", [app], np.zeros((1, 55), np.float32), [85])

    def preload(self, appearance: Appearance) -> None:
        """Send ``appearance`` to the workers that lack it, now (a session's start) rather than
        with its first batch, where it would hold up every session in that batch: ~10 ms a
        worker at 256, ~50 at 512. Best effort: takes idle workers as they come, a few times
        over; a worker still without it gets it with its first batch of it (a replacement
        that is starting, before it joins)."""
        key = self._key(appearance)
        for _ in range(2 * self._size):
            with self._lock:
                if self._closed or all(key in w.known for w in self._live):
                    return  # also with no worker alive: replacements load every live face
            w = self._take()
            try:
                if key not in w.known:
                    self._send(w, "load", [appearance], _NO_MOTION, None)
            except (EOFError, OSError) as e:
                self._retire(w, e)
                continue
            except BaseException:
                self._give(w)
                raise
            self._give(w)

    def cached(self) -> list[int]:
        """How many appearances each worker in rotation holds (for tests and diagnostics)."""
        with self._every_worker() as workers:
            return [w.call("size") for w in workers]

    def close(self) -> None:
        """End every worker (waits for calls in flight to come back first); a replacement
        still starting is killed."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()  # callers waiting for a worker: the pool is closed
            for w in self._starting:
                w.process.kill()  # its start-up call fails and its thread ends
            restarters = list(self._restarters)
        for t in restarters:
            t.join(10.0)
        with self._cond:
            self._cond.wait_for(lambda: all(w in self._idle for w in self._live))
            live, self._live = self._live, []
            self._idle.clear()
        for w in live:
            w.stop()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            for w in self._live + self._starting:
                if w.alive():
                    w.process.kill()

    # ------------------------------------------------------------ internals

    def _take(self) -> _Worker:
        """An idle worker, out of the rotation until ``_give``; one found dead is retired.
        Waits in line while every worker is busy; with none alive, at most
        ``NO_WORKER_WAIT_S`` for the first replacement, then UNAVAILABLE."""
        ticket = _Ticket()
        deadline: float | None = None
        with self._cond:
            try:
                while True:
                    if self._closed:
                        raise RuntimeError("compute pool is closed")
                    w, ticket.worker = ticket.worker, None
                    handed = w is not None
                    if w is None and self._idle:  # none idle while others wait in line
                        w = self._idle.popleft()
                    if w is not None:
                        if w.alive():
                            return w
                        self._retire(w, "found dead")
                        if handed:  # it was this caller's turn: keep it
                            self._line.appendleft(ticket)
                        continue
                    if ticket not in self._line:
                        self._line.append(ticket)
                    deadline = self._wait_for_worker(deadline)
            finally:
                with contextlib.suppress(ValueError):
                    self._line.remove(ticket)
                if ticket.worker is not None:  # handed one as it gave up: pass it on
                    self._give(ticket.worker)

    def _wait_for_worker(self, deadline: float | None) -> float | None:
        """One wait of ``_take`` (lock held): until a worker comes back or joins. Only with
        no worker alive does the wait count towards ``NO_WORKER_WAIT_S``."""
        if self._live:  # all busy: one comes back within a batch
            self._cond.wait()
            return None
        if not self._restarters:
            raise UnavailableError("no compute process is running and none could start")
        now = time.monotonic()
        deadline = deadline or now + NO_WORKER_WAIT_S
        if now >= deadline:
            raise UnavailableError(
                f"no compute process is running; none started within {NO_WORKER_WAIT_S:g} s"
            )
        self._cond.wait(deadline - now)
        return deadline

    def _give(self, w: _Worker) -> None:
        """Back into rotation: to the first caller in line, else idle. In line order, so a
        lane that gives a worker back cannot take it again ahead of one that waits."""
        with self._cond:
            if w not in self._live:
                return
            if self._line:
                self._line.popleft().worker = w
            else:
                self._idle.append(w)
            self._cond.notify_all()

    def _retire(self, dead: _Worker, why: object) -> None:
        """Take a dead worker out of the rotation (the survivors serve on) and start its
        replacement in a background thread."""
        with self._cond:
            if dead not in self._live:
                return
            self._live.remove(dead)
            with contextlib.suppress(ValueError):
                self._idle.remove(dead)
            self._cond.notify_all()  # no worker left: waiters now time the replacement
            if self._closed:
                dead.kill()
                return
            self.restarts += 1
            log.warning(
                "compute process %s died (%r, exit status %s); %d of %d serve while a "
                "replacement starts",
                dead.process.pid,
                why,
                dead.process.poll(),
                len(self._live),
                self._size,
            )
            t = threading.Thread(target=self._restart, args=(dead,), name="compute-restart")
            t.daemon = True  # a stuck start-up must not keep the daemon alive
            self._restarters.add(t)
            t.start()

    def _restart(self, dead: _Worker) -> None:
        """Replace ``dead``: start a worker, catch it up, let it in. A few tries."""
        try:
            dead.kill()
            for attempt in range(START_ATTEMPTS):
                with self._cond:
                    if attempt and self._cond.wait_for(lambda: self._closed, START_RETRY_S):
                        return
                began = time.monotonic()
                fresh = self._start_caught_up()
                if fresh is None:
                    continue
                with self._cond:  # one step from starting to rotation: no drop is missed
                    self._starting.remove(fresh)
                    if not self._closed:
                        self._live.append(fresh)
                        self._give(fresh)
                        log.info(
                            "compute process %s joins, %.1f s after starting",
                            fresh.process.pid,
                            time.monotonic() - began,
                        )
                        return
                fresh.stop()
                return
            if self._closed:
                return
            log.error(
                "no compute process could replace %s after %d tries; %d of %d serve",
                dead.process.pid,
                START_ATTEMPTS,
                len(self._live),
                self._size,
            )
        finally:
            with self._cond:
                self._restarters.discard(threading.current_thread())
                self._cond.notify_all()

    def _start_caught_up(self) -> _Worker | None:
        """A new worker that has loaded the model, every live face, and made its first
        calls; left in ``_starting``. None if it died on the way or the pool closed."""
        fresh = _Worker(self._model_path)
        with self._cond:
            if self._closed:
                fresh.kill()
                return None
            self._starting.append(fresh)
        try:
            fresh.call("size")  # answered once it has loaded the model and the renderer
            self._catch_up(fresh)
        except Exception as e:  # any failure: this process is not let in, and not left running
            log.warning("a replacement compute process failed to start: %r", e)
            with self._cond:
                self._starting.remove(fresh)
            fresh.kill()
            return None
        return fresh

    def _catch_up(self, w: _Worker) -> None:
        """Send ``w`` every face the daemon holds and make its first calls (the mapper, one
        frame per output size), so no batch pays for them once ``w`` joins."""
        for _ in range(2):  # again for faces that came while the first ones travelled
            with self._lock:
                faces = [app for app, key in list(self._keys.items()) if key not in w.known]
            for i in range(0, len(faces), _LOAD_GROUP):
                self._send(w, "load", faces[i : i + _LOAD_GROUP], _NO_MOTION, None)
        if self._warm_requests:
            w.call(_Sample(self._warm_requests))
        with self._lock:
            by_size = {app.size: app for app in list(self._keys.keys())}
        for app in by_size.values():
            self._send(w, "jpeg", [app], np.zeros((1, 55), np.float32), [85])

    @contextlib.contextmanager
    def _every_worker(self) -> Iterator[list[_Worker]]:
        """Every worker in rotation, each taken in turn (a worker held is not idle: each
        ``_take`` brings a new one) and put back after."""
        taken: list[_Worker] = []
        try:
            while True:
                with self._lock:
                    if all(w in taken for w in self._live):
                        break
                taken.append(self._take())
            yield taken
        finally:
            for w in taken:
                self._give(w)

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
            for w in self._live + self._starting:
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
        """``fn(worker)`` on an idle worker. A worker that dies under it is retired and ``fn``
        retried once, on another worker (a replacement if none is left): a batch that
        killed two workers is not given a third."""
        for attempt in range(_ATTEMPTS):
            w = self._take()
            try:
                out = fn(w)
            except (EOFError, OSError) as e:  # the process died
                self._retire(w, e)
                if attempt + 1 == _ATTEMPTS:
                    raise RuntimeError(f"compute processes died twice on one batch: {e}") from e
                continue
            except BaseException:
                self._give(w)
                raise
            self._give(w)
            return out
        raise AssertionError("unreachable")

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


if __name__ == "__main__":
    # Through the package module, not this ``__main__`` copy of it: requests are pickled as
    # ``lpm_bridge.compute_pool`` classes, which the loop must recognise as its own.
    from lpm_bridge import compute_pool

    compute_pool.worker_main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)
