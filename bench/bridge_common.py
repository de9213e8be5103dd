"""Shared helpers of the bridge benchmarks: a daemon subprocess and a test voice."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from lpm_bridge._proto import bridge_pb2 as pb

SR = 16000


class DaemonProcess:
    """``lpm-bridge serve`` on a free loopback port; always stopped with SIGTERM on exit."""

    def __init__(self, *args: str) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="lpm-bench-")
        cmd = [sys.executable, "-m", "lpm_bridge", "serve", "--port", "0",
               "--avatars-dir", str(Path(self._tmp.name) / "avatars"), *args]  # fmt: skip
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self.target = ""
        self._serving = threading.Event()
        threading.Thread(target=self._pump, daemon=True).start()
        if not self._serving.wait(180):
            self.stop()
            raise RuntimeError("daemon did not become ready")

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if "listening on" in line:
                self.target = line.split("listening on ")[1].split()[0]
            if "serving on" in line:
                self._serving.set()

    def pids(self) -> list[int]:
        """The daemon and its render worker processes (its children)."""
        pids = [self.proc.pid]
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            with contextlib.suppress(OSError):
                pids += [int(p) for p in (task / "children").read_text().split()]
        return pids

    def rss_mb(self) -> float:
        """Resident memory of the daemon and its render workers, MB."""
        total = 0.0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) / 1024
        return total

    def cpu(self) -> dict[str, float]:
        """CPU seconds (user, kernel) and minor page faults so far of the daemon and its
        render workers (workers started again after a crash count from their start)."""
        tick = os.sysconf("SC_CLK_TCK")
        out = {"user_s": 0.0, "kernel_s": 0.0, "minor_faults": 0.0}
        for pid in self.pids():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                out["user_s"] += int(fields[11]) / tick
                out["kernel_s"] += int(fields[12]) / tick
                out["minor_faults"] += int(fields[7])
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._tmp.cleanup()

    def __enter__(self) -> DaemonProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def voice(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A speech-like test signal: a buzzy vowel with syllable bursts and pauses (int16)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.5 * t)
    buzz = (
        np.sign(np.sin(2 * np.pi * np.cumsum(f0) / sr)) * 0.25 + np.sin(2 * np.pi * 700 * t) * 0.2
    )
    env = (np.sin(2 * np.pi * 3.5 * t + rng.uniform(0, 6)) > -0.2).astype(np.float32)
    return (buzz * env * 20000).astype(np.int16)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def now() -> float:
    return time.monotonic()


class ClientGC:
    """Records the load generator's own garbage-collection pauses during a run.

    A pause of the client's event loop delays its audio and its arrival timestamps, which
    the figures would charge to the daemon; the report shows whether that happened (with
    16 sessions: ~34 young-generation collections in 20 s, none over 0.5 ms).
    """

    def __init__(self) -> None:
        self.pauses_ms: list[float] = []
        self._t0 = 0.0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.pauses_ms.append((time.perf_counter() - self._t0) * 1000)

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)

    def report(self) -> dict[str, float]:
        """Collections during the run and their longest and total pause (ms)."""
        p = self.pauses_ms
        return {"collections": len(p), "max_ms": round(max(p, default=0.0), 2),
                "total_ms": round(sum(p), 1)}  # fmt: skip


async def send_realtime(
    call: Any, pcm: np.ndarray, chunk: int, *, end: bool = False, t0: float | None = None
) -> None:
    """Write ``pcm`` to a Perform call in ``chunk``-sample messages at real-time pace.

    Chunk ``i`` is due at ``t0 + i * chunk / SR`` (``t0``: the caller's clock origin, else
    now): a sender that starts late or is held up catches up at once instead of shifting
    every later chunk, so lateness is measured against the clock the caller plays by.
    """
    t0 = now() if t0 is None else t0
    for i, off in enumerate(range(0, len(pcm), chunk)):
        await asyncio.sleep(max(0.0, t0 + i * chunk / SR - now()))
        await call.write(
            pb.PerformRequest(audio=pb.AudioChunk(pcm=pcm[off : off + chunk].tobytes()))
        )
    if end:
        await call.write(pb.PerformRequest(end_of_utterance=pb.EndOfUtterance()))


async def send_at_once(call: Any, pcm: np.ndarray, chunk_s: float = 0.5) -> None:
    """Write ``pcm`` as fast as the call takes it (a TTS clip), then ``end_of_utterance``."""
    chunk = int(chunk_s * SR)
    for off in range(0, len(pcm), chunk):
        await call.write(
            pb.PerformRequest(audio=pb.AudioChunk(pcm=pcm[off : off + chunk].tobytes()))
        )
    await call.write(pb.PerformRequest(end_of_utterance=pb.EndOfUtterance()))
