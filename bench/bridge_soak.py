"""One session fed an hour of audio; daemon RSS over time must stay flat (JSON on stdout).

Audio is sent as 10 s utterances as fast as the daemon renders them (flow control paces
the sender), with every frame read, so an hour of audio takes minutes, not an hour.

    python bench/bridge_soak.py --hours 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os

import grpc
import numpy as np
from bridge_common import SR, DaemonProcess, now, voice

from lpm_bridge._proto import bridge_pb2 as pb
from lpm_bridge._proto import bridge_pb2_grpc as pb_grpc

UTTERANCE_S = 10.0


def _slope(samples: list[tuple[float, float]], warmup_s: float) -> float:
    pts = [(t, r) for t, r in samples if t >= warmup_s]
    if len(pts) < 3:
        return float("nan")
    t, r = np.array(pts).T
    return float(np.polyfit(t / 3600, r, 1)[0])


async def run(args: argparse.Namespace, daemon: DaemonProcess) -> dict[str, object]:
    total = int(args.hours * 3600 / UTTERANCE_S)
    samples: list[tuple[float, float]] = []
    t0 = now()
    async with grpc.aio.insecure_channel(daemon.target) as ch:
        stub = pb_grpc.BridgeStub(ch)  # type: ignore[no-untyped-call]
        call = stub.Perform()
        await call.write(pb.PerformRequest(config=pb.SessionConfig(sample_rate_hz=SR, seed=1)))
        clip = voice(UTTERANCE_S).tobytes()

        async def send() -> None:
            for _ in range(total):
                await call.write(pb.PerformRequest(audio=pb.AudioChunk(pcm=clip)))
                await call.write(pb.PerformRequest(end_of_utterance=pb.EndOfUtterance()))
            await call.done_writing()

        sender = asyncio.create_task(send())
        ends, frames = 0, 0
        while ends < total:
            msg = await call.read()
            if msg is grpc.aio.EOF:
                break
            if msg.WhichOneof("response") == "frame":
                frames += 1
            elif msg.event.type == pb.EVENT_TYPE_UTTERANCE_END:
                ends += 1
                if ends % 6 == 0:  # every minute of audio
                    samples.append((ends * UTTERANCE_S, daemon.rss_mb()))
        await sender
        call.cancel()
    warmup_s = args.warmup_min * 60  # RSS after this much audio is the baseline
    base = [rss for t, rss in samples if t >= warmup_s][:1] or [samples[0][1]]
    after = [rss for t, rss in samples if t >= warmup_s]
    return {
        "bench": "bridge_soak",
        "audio_hours": args.hours,
        "warmup_audio_min": args.warmup_min,
        "frames": frames,
        "wall_s": round(now() - t0, 1),
        "rss_mb_at_warmup": round(base[0], 1),
        "rss_mb_max_after_warmup": round(max(after or base), 1),
        "rss_growth_mb": round(max(after or base) - base[0], 1),
        # the trend, robust to the +-30 MB swings of transient buffers between samples
        "rss_slope_mb_per_audio_hour": round(_slope(samples, warmup_s), 1),
        "rss_mb_by_audio_minute": [[round(t / 60), round(r, 1)] for t, r in samples],
        "cpus": os.cpu_count(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hours", type=float, default=1.0)
    p.add_argument(
        "--warmup-min", type=float, default=5.0, help="minutes of audio before the baseline"
    )
    args = p.parse_args()
    with DaemonProcess() as daemon:
        print(json.dumps(asyncio.run(run(args, daemon))))


if __name__ == "__main__":
    main()
