"""End-to-end: a live session keeps its frames coming while a compute process is killed.

A daemon with two compute processes serves one live session (audio at real-time pace); one
compute process is SIGKILLed mid-line. The session's frames keep arriving at their pace (a
synchronous restart held them for the whole start-up of a new process: ~2 s on the bench
machine, more on a loaded one), every frame of the line arrives, the call ends OK, and the
replacement joins the rotation.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from pathlib import Path

import grpc
import pytest
from daemon_harness import END, SR, Call, Daemon, audio, config, speech

from lpm_bridge._proto import bridge_pb2 as pb
from lpm_bridge._proto import bridge_pb2_grpc as pb_grpc

LINE_S = 6.0  # the line the session speaks, sent at real-time pace
KILL_AFTER_S = 1.5  # into the line
CHUNK_S = 0.04
# Frames of a real-time session come every 40 ms; a batch retried on the survivor costs one
# batch more. Generous for a loaded 2-core CI machine, far under any process start-up.
MAX_GAP_S = 1.0


def compute_processes(daemon: Daemon) -> list[int]:
    """The daemon's ``lpm_bridge.compute_pool`` children."""
    pids: list[int] = []
    for task in Path(f"/proc/{daemon.proc.pid}/task").iterdir():
        pids += [int(p) for p in (task / "children").read_text().split()]
    return [
        p
        for p in pids
        if b"lpm_bridge.compute_pool" in Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")
    ]


async def speak_in_real_time(call: Call, pcm: bytes) -> None:
    step = int(CHUNK_S * SR) * 2
    t0 = time.monotonic()
    for i, off in enumerate(range(0, len(pcm), step)):
        await asyncio.sleep(max(0.0, t0 + i * CHUNK_S - time.monotonic()))
        await call.send(audio(pcm[off : off + step]))
    await call.send(END)


@pytest.mark.timeout(150)
async def test_a_live_session_is_served_through_a_compute_process_death(tmp_path: Path) -> None:
    d = Daemon(tmp_path / "avatars", "--compute-processes", "2", "--render-workers", "2")
    try:
        d.wait_for("serving on")
        victim = compute_processes(d)[0]
        async with grpc.aio.insecure_channel(d.target) as ch:
            call = Call(pb_grpc.BridgeStub(ch))  # type: ignore[no-untyped-call]
            await call.send(config())
            await call.read_until(lambda m: m.WhichOneof("response") == "started")
            sender = asyncio.create_task(speak_in_real_time(call, speech(LINE_S)))
            await asyncio.sleep(KILL_AFTER_S)
            killed = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            await call.read_until(
                lambda m: (
                    m.WhichOneof("response") == "event"
                    and m.event.type == pb.EVENT_TYPE_UTTERANCE_END
                ),
                timeout=60,
            )
            await sender
            await call.call.done_writing()
            await call.drain()
            assert await call.call.code() == grpc.StatusCode.OK
        arrivals = [t for t in call.arrivals if t > killed - 0.1]
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        assert max(gaps) < MAX_GAP_S, f"frames stopped for {max(gaps):.2f} s after the kill"
        speaking = [f for f in call.frames if f.speaking]
        assert len(speaking) >= LINE_S * 25 - 2, f"{len(speaking)} speech frames of a 6 s line"
        d.wait_for(" joins", timeout=90)  # the replacement is in rotation
        assert victim not in compute_processes(d) and len(compute_processes(d)) == 2
    finally:
        d.stop()
