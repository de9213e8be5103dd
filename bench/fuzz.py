"""Fuzz a live daemon with random and malformed calls; prints a JSON report.

Starts ``lpm-bridge serve`` with the WebSocket gateway and short timeouts, sends the cases
of tests/server/fuzz_cases.py and fuzz_ws_cases.py (random and malformed Perform streams,
odd unary calls, bursts of concurrent portraits, WebSocket messages and hand-made frames),
judges each against docs/protocol.md (tests/server/fuzz_run.py), then checks that the
daemon is alive, answers GetServerInfo with every slot freed, and logged no traceback.
The CI test (tests/server/test_fuzz_e2e.py) runs the same with fewer cases.

    python bench/fuzz.py --grpc 8000 --ws 2000 --seed 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The fuzzer lives with the end-to-end tests (their daemon harness and face helpers).
sys.path[:0] = [str(ROOT / "tests" / "server"), str(ROOT / "tests")]

from daemon_harness import Daemon  # noqa: E402
from face_helpers import mirrored_astronaut_png  # noqa: E402
from fuzz_cases import build_portraits  # noqa: E402
from fuzz_run import DAEMON_FLAGS, Plan, crash_signs, fuzz, slots_after, summary  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grpc", type=int, default=8000, help="random gRPC calls")
    ap.add_argument("--ws", type=int, default=2000, help="random WebSocket calls")
    ap.add_argument("--bursts", type=int, default=6, help="rounds of concurrent portraits")
    ap.add_argument("--concurrency", type=int, default=8, help="gRPC calls at once")
    ap.add_argument("--ws-concurrency", type=int, default=8, help="WebSocket calls at once")
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument(
        "--daemon-args", default=" ".join(DAEMON_FLAGS), help="`lpm-bridge serve` flags"
    )
    args = ap.parse_args()
    plan = Plan(
        args.grpc,
        args.ws,
        portrait_bursts=args.bursts,
        concurrency=args.concurrency,
        ws_concurrency=args.ws_concurrency,
        undecodable_unary=max(4, args.grpc // 200),  # a known defect (test_fuzz_e2e.py)
    )
    portraits = build_portraits(mirrored_astronaut_png(), args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        daemon = Daemon(Path(tmp), *args.daemon_args.split())
        try:
            ws_url = daemon.wait_for("websocket gateway on").split(" on ")[1].split()[0]
            daemon.wait_for("serving on")
            t0 = time.monotonic()
            outcomes = asyncio.run(
                fuzz(daemon.target, ws_url.removesuffix("/v1/perform"), plan, portraits, args.seed)
            )
            report = summary(outcomes, time.monotonic() - t0)
            report["slots_held_after"] = asyncio.run(slots_after(daemon.target, 10.0))
            report["daemon_alive"] = daemon.proc.poll() is None
        finally:
            report_log = crash_signs("".join(daemon.log))
            daemon.stop()
    report["seed"] = args.seed
    report["crash_lines"] = report_log[:20]
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
