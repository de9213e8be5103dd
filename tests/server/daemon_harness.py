"""Start ``lpm-bridge serve`` in a subprocess on a free loopback port, and talk to it.

Clients use the stubs generated from protos/ (lpm_bridge._proto) over a real socket.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from lpm_bridge._proto import bridge_pb2 as pb
from lpm_bridge._proto import bridge_pb2_grpc as pb_grpc

SR = 16000


class Daemon:
    """One daemon process; ``stop()`` sends SIGTERM and waits (never leaves it running)."""

    def __init__(self, avatars_dir: Path, *args: str) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
        cmd = [sys.executable, "-m", "lpm_bridge", "serve", "--port", "0", "--threads", "1",
               "--avatars-dir", str(avatars_dir), "--grace", "2", *args]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        line = self.wait_for("listening on")
        self.target = line.split("listening on ")[1].split()[0]

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.log.append(line)
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 120.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if text in line:
                return line
        raise RuntimeError(f"daemon never printed {text!r}; log:\n{''.join(self.log)}")

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def speech(seconds: float, sr: int = SR) -> bytes:
    """A voiced test signal: a 200 Hz buzz with syllable-like bursts (PCM16 bytes)."""
    t = np.arange(int(seconds * sr))
    env = (np.sin(2 * np.pi * 3 * t / sr) > -0.3).astype(np.float32)
    wave = np.sign(np.sin(2 * np.pi * 200 * t / sr)) * 0.3 + np.sin(2 * np.pi * 700 * t / sr) * 0.2
    return (wave * env * 20000).astype("<i2").tobytes()


def config(**kw: Any) -> pb.PerformRequest:
    kw.setdefault("sample_rate_hz", SR)
    kw.setdefault("seed", 7)
    return pb.PerformRequest(config=pb.SessionConfig(**kw))


def audio(pcm: bytes) -> pb.PerformRequest:
    return pb.PerformRequest(audio=pb.AudioChunk(pcm=pcm))


END = pb.PerformRequest(end_of_utterance=pb.EndOfUtterance())
INTERRUPT = pb.PerformRequest(interrupt=pb.Interrupt())


class Call:
    """A Perform call with helpers to read until something arrives."""

    def __init__(self, stub: pb_grpc.BridgeStub) -> None:
        self.call = stub.Perform()
        self.frames: list[pb.Frame] = []
        self.events: list[pb.Event] = []
        self.started: pb.SessionStarted | None = None
        self.arrivals: list[float] = []
        self.started_at = 0.0

    async def send(self, *reqs: pb.PerformRequest) -> None:
        for r in reqs:
            await self.call.write(r)

    async def read(self) -> pb.PerformResponse | None:
        msg = await self.call.read()
        if msg is grpc.aio.EOF:
            return None
        kind = msg.WhichOneof("response")
        if kind == "frame":
            self.frames.append(msg.frame)
            self.arrivals.append(time.monotonic())
        elif kind == "event":
            self.events.append(msg.event)
        elif kind == "started":
            self.started = msg.started
            self.started_at = time.monotonic()
        return msg  # type: ignore[no-any-return]

    async def read_until(self, pred: Any, timeout: float = 30.0) -> pb.PerformResponse:
        async def loop() -> pb.PerformResponse:
            while True:
                msg = await self.read()
                if msg is None:
                    raise EOFError("stream ended")
                if pred(msg):
                    return msg

        return await asyncio.wait_for(loop(), timeout)

    async def drain(self, timeout: float = 60.0) -> None:
        async def loop() -> None:
            while await self.read() is not None:
                pass

        await asyncio.wait_for(loop(), timeout)

    def event_types(self) -> list[int]:
        return [e.type for e in self.events]


async def frames_flowing(call: Call, seconds: float) -> AsyncIterator[int]:
    """Yield frame counts while reading for ``seconds``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await call.read_until(lambda m: m.WhichOneof("response") == "frame", timeout=5)
        yield len(call.frames)


@contextmanager
def started(d: Daemon) -> Iterator[Daemon]:
    """``d`` once it serves; stopped when the block ends, however it ends."""
    try:
        d.wait_for("serving on")
        yield d
    finally:
        d.stop()
