"""Live sessions while a compute process is SIGKILLed (JSON on stdout).

``--sessions`` real-time sessions (bridge_concurrency's live mode: 20 ms audio chunks at
real-time pace, a frame late if it arrives after its pts on a clock ``--playout-delay-ms``
behind the first chunk) run for ``--seconds``; ``--kill-at`` seconds in, one of the
daemon's compute processes is killed. The report gives the late frames and the worst lag
overall and in the window from the kill until the replacement joined (the daemon logs
"compute process N joins"), and how long that took.

    python bench/worker_kill.py --sessions 4 --seconds 20 --kill-at 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from pathlib import Path

import grpc
from bridge_common import DaemonProcess, now, voice
from bridge_concurrency import session

from lpm_bridge._proto import bridge_pb2_grpc as pb_grpc


class LoggedDaemon(DaemonProcess):
    """A daemon whose output lines are kept with their arrival time (the pool's log)."""

    def __init__(self, *args: str) -> None:
        self.lines: list[tuple[float, str]] = []
        super().__init__(*args)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((now(), line.rstrip()))
            if "listening on" in line:
                self.target = line.split("listening on ")[1].split()[0]
            if "serving on" in line:
                self._serving.set()

    def workers(self) -> list[int]:
        """The daemon's compute processes (its ``lpm_bridge.compute_pool`` children)."""
        out = []
        for pid in self.pids()[1:]:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"lpm_bridge.compute_pool" in cmd:
                out.append(pid)
        return out


def late_by_second(results: list[dict[str, object]]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for r in results:
        for sec, lag in r["lags"]:  # type: ignore[attr-defined]
            if lag > 0:
                counts[int(sec)] = counts.get(int(sec), 0) + 1
    return dict(sorted(counts.items()))


async def run(args: argparse.Namespace, daemon: LoggedDaemon) -> dict[str, object]:
    args.burst, args.lookahead_ms = False, None  # what bridge_concurrency.session reads
    lines = [voice(args.seconds, seed=k) for k in range(args.sessions)]
    async with grpc.aio.insecure_channel(daemon.target) as ch:
        stub = pb_grpc.BridgeStub(ch)  # type: ignore[no-untyped-call]
        t0 = now()
        tasks = [
            asyncio.create_task(session(stub, args, k, "default", lines[k]))
            for k in range(args.sessions)
        ]
        await asyncio.sleep(args.kill_at)
        victim = daemon.workers()[0]
        killed = now()
        os.kill(victim, signal.SIGKILL)
        results = await asyncio.gather(*tasks)
    joined = next((t for t, line in daemon.lines if t > killed and " joins" in line), None)
    window_end = joined if joined is not None else now()
    # Seconds into the line (by pts) that the kill-to-join window covers, per session:
    # sessions start within one frame period of t0, and play playout_delay behind it.
    lo = killed - t0 - args.playout_delay_ms / 1000 - 0.04
    hi = window_end - t0
    window = [lag for r in results for sec, lag in r["lags"] if lo <= sec <= hi]
    before = [lag for r in results for sec, lag in r["lags"] if sec < lo]
    every = [lag for r in results for _, lag in r["lags"]]
    return {
        "bench": "worker_kill",
        "sessions": args.sessions,
        "size": args.size,
        "seconds": args.seconds,
        "playout_delay_ms": args.playout_delay_ms,
        "compute_processes": len(daemon.workers()),
        "killed_at_s": round(killed - t0, 2),
        "replacement_joined_after_s": None if joined is None else round(joined - killed, 2),
        "speech_frames_total": int(sum(r["frames"] for r in results)),
        "late_frames_total": int(sum(r["late"] for r in results)),
        "worst_lag_ms": round(max(every) * 1000, 1),
        "before_kill_frames": len(before),
        "before_kill_late_frames": sum(lag > 0 for lag in before),
        "window_frames": len(window),
        "window_late_frames": sum(lag > 0 for lag in window),
        "window_worst_lag_ms": round(max(window, default=float("nan")) * 1000, 1),
        "per_session_late": [int(r["late"]) for r in results],
        # seconds into the line (by pts) with late frames: how many, all sessions together
        "late_by_second": late_by_second(results),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=4)
    p.add_argument("--size", type=int, default=256, choices=(256, 512))
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--kill-at", type=float, default=5.0, help="seconds after the sessions start")
    p.add_argument("--playout-delay-ms", type=float, default=150.0)
    p.add_argument("--daemon-args", action="append", default=[], help="an extra serve flag")
    args = p.parse_args()
    with LoggedDaemon("--max-sessions", str(max(32, args.sessions)), *args.daemon_args) as d:
        print(json.dumps(asyncio.run(run(args, d))))


if __name__ == "__main__":
    main()
