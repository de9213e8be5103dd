"""First-speech-frame latency over loopback, audio sent at real-time pace (JSON on stdout).

For each trial: open a session (default settings: 256x256 JPEG, 25 fps), let it idle,
then stream speech in 20 ms chunks at real-time pace and time from sending the first chunk
to receiving the first frame with ``speaking`` set.

    python bench/bridge_latency.py --trials 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random

import grpc
from bridge_common import SR, DaemonProcess, now, percentile, send_realtime, voice

from lpm_bridge._proto import bridge_pb2 as pb
from lpm_bridge._proto import bridge_pb2_grpc as pb_grpc


async def trial(stub: pb_grpc.BridgeStub, chunk_ms: int) -> float:
    call = stub.Perform()
    await call.write(pb.PerformRequest(config=pb.SessionConfig(sample_rate_hz=SR)))
    for _ in range(5):  # started + a few idle frames: the session is live
        await call.read()
    await asyncio.sleep(random.uniform(0.0, 0.04))  # land anywhere within a frame period
    pcm = voice(1.0)
    chunk = SR * chunk_ms // 1000

    t_first = now()
    sender = asyncio.create_task(send_realtime(call, pcm, chunk, t0=t_first))
    while True:
        msg = await call.read()
        if msg.WhichOneof("response") == "frame" and msg.frame.speaking:
            latency = now() - t_first
            break
    sender.cancel()
    call.cancel()
    return latency * 1000


async def run(args: argparse.Namespace, target: str) -> dict[str, object]:
    async with grpc.aio.insecure_channel(target) as ch:
        stub = pb_grpc.BridgeStub(ch)  # type: ignore[no-untyped-call]
        values = [await trial(stub, args.chunk_ms) for _ in range(args.trials)]
    return {
        "bench": "bridge_latency",
        "trials": args.trials,
        "chunk_ms": args.chunk_ms,
        "first_speech_frame_ms": {
            "p50": round(percentile(values, 50), 1),
            "p95": round(percentile(values, 95), 1),
            "max": round(max(values), 1),
        },
        "cpus": os.cpu_count(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=30)
    p.add_argument("--chunk-ms", type=int, default=20)
    p.add_argument("--server", default=None, help="use a running daemon instead of starting one")
    args = p.parse_args()
    if args.server:
        print(json.dumps(asyncio.run(run(args, args.server))))
        return
    with DaemonProcess() as daemon:
        print(json.dumps(asyncio.run(run(args, daemon.target))))


if __name__ == "__main__":
    main()
