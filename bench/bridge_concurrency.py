"""N concurrent sessions, each streaming a line of speech (JSON on stdout).

Two ways a game sends a line, two clocks:

* real time (default): live audio, sent in 20 ms chunks at real-time pace. Every session
  plays its audio ``--playout-delay-ms`` after sending the first chunk (the latency budget,
  as a game would buffer); a speech frame is late if it arrives after that playback clock
  reaches its pts. ``worst_lag_ms`` < 0 for all sessions means every frame arrived ahead
  of its pts. ``rtf`` here is (last - first speech frame arrival) / audio between them:
  about 1 by construction (audio arrives in real time), above 1 if the lag grows.
* ``--burst``: a dialogue line (a TTS clip or a recorded line) sent at once, in 0.5 s
  messages, then ``end_of_utterance``. Each session starts playback when its first speech
  frame arrives; a frame is late if it arrives after that clock reaches its pts. ``rtf`` is
  (last speech frame arrival - first audio sent) / clip length: under 1 means the whole
  line was rendered faster than it plays.

    python bench/bridge_concurrency.py --sessions 16 --size 256
    python bench/bridge_concurrency.py --sessions 16 --size 256 --burst
    python bench/bridge_concurrency.py --sessions 6 --size 512 [--burst]

``--distinct-avatars`` gives every session its own registered face (16 NPCs, not one face
16 times): each then renders in its own run of the batch. Faces are registered at the
session size (``RegisterAvatarRequest.sizes``) before the clock runs, as a game would at
level load; ``--register-at-256`` registers at the default size only, so sessions at 512
encode their face when they start (what registering without ``sizes`` costs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource

import grpc
import numpy as np
from bridge_common import SR, ClientGC, DaemonProcess, now, send_at_once, send_realtime, voice
from render_speed import portraits

from lpm_bridge._proto import bridge_pb2 as pb
from lpm_bridge._proto import bridge_pb2_grpc as pb_grpc


async def session(
    stub: pb_grpc.BridgeStub, args: argparse.Namespace, k: int, avatar_id: str, pcm: np.ndarray
) -> dict[str, float]:
    call = stub.Perform()
    cfg = pb.SessionConfig(sample_rate_hz=SR, size=args.size, seed=k, avatar_id=avatar_id)
    if args.lookahead_ms is not None:
        cfg.lookahead_ms = args.lookahead_ms
    await call.write(pb.PerformRequest(config=cfg))
    await call.read()  # started
    chunk = SR * 20 // 1000
    delay = args.playout_delay_ms / 1000

    # NPC lines start at unrelated moments: the sessions' starts are spread evenly over one
    # frame period (0, 2.5, 5, ... ms for 16), so their frames fall due at different times.
    await asyncio.sleep(k / args.sessions / 25)
    t_first = now()
    if args.burst:
        sender = asyncio.create_task(send_at_once(call, pcm))
    else:
        sender = asyncio.create_task(send_realtime(call, pcm, chunk, end=True, t0=t_first))
    start_pts, late, frames, worst = None, 0, 0, -1e9
    t_play = 0.0
    arrivals: list[tuple[float, int]] = []
    lags: list[tuple[float, float]] = []  # (seconds into the line, lag s)
    while True:
        msg = await call.read()
        kind = msg.WhichOneof("response")
        if kind == "event" and msg.event.type == pb.EVENT_TYPE_UTTERANCE_START:
            start_pts = msg.event.pts_samples
        elif kind == "event" and msg.event.type == pb.EVENT_TYPE_UTTERANCE_END:
            break
        elif kind == "frame" and msg.frame.speaking and start_pts is not None:
            frames += 1
            t = now()
            if args.burst and not arrivals:
                t_play = t  # playback starts with the first speech frame
            arrivals.append((t, msg.frame.pts_samples))
            clock = (t - t_play) if args.burst else (t - t_first - delay)
            lag = clock - (msg.frame.pts_samples - start_pts) / SR
            worst = max(worst, lag)
            late += lag > 0
            lags.append(((msg.frame.pts_samples - start_pts) / SR, lag))
    await sender
    call.cancel()
    # Real-time factor: wall time between the first and last speech frame over the audio time
    # they span. Under 1: once started, the session is served faster than its audio plays.
    (t0, p0), (t1, p1) = arrivals[0], arrivals[-1]
    if args.burst:
        rtf = (t1 - t_first) / (len(pcm) / SR)
        end_lag = (t1 - t_play) - (p1 - start_pts) / SR
    else:
        rtf = (t1 - t0) / max((p1 - p0) / SR, 1e-9)
        end_lag = (t1 - t_first) - (delay + (p1 - start_pts) / SR)
    return {
        "frames": frames,
        "late": late,
        "first_frame_ms": round((t0 - t_first) * 1000, 1),
        "worst_lag_ms": round(worst * 1000, 1),
        "end_lag_ms": round(end_lag * 1000, 1),
        "rtf": round(rtf, 3),
        "lags": lags,  # aggregated over sessions by ``lag_stats``, not printed as is
    }


async def client_loop_lag() -> dict[str, float]:
    """Until cancelled: how late this event loop wakes from 5 ms sleeps (max, p99, and the
    number of wake-ups more than 20 ms late); returned on cancellation."""
    late: list[float] = []
    try:
        while True:
            t = now()
            await asyncio.sleep(0.005)
            late.append((now() - t - 0.005) * 1000)
    except asyncio.CancelledError:
        arr = np.asarray(late or [0.0])
        return {"max": round(float(arr.max()), 1), "p99": round(float(np.percentile(arr, 99)), 1),
                "over_20ms": int((arr > 20).sum())}  # fmt: skip


def lag_stats(results: list[dict[str, object]]) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Lag (ms) percentiles over every frame of every session, and per second of the line (by
    pts): median and worst lag and late frames. The percentiles are steadier from run to run
    than the worst frame; the seconds tell a start-up backlog from a steady state."""
    buckets: dict[int, list[float]] = {}
    for r in results:
        for sec, lag in r.pop("lags"):  # type: ignore[attr-defined]
            buckets.setdefault(int(sec), []).append(lag * 1000)
    every = np.concatenate([np.asarray(v) for v in buckets.values()])
    pct = {f"p{q}": round(float(np.percentile(every, q)), 1) for q in (50, 90, 99, 99.9)}
    return pct, [
        {
            "second": s,
            "p50_ms": round(float(np.median(v)), 1),
            "max_ms": round(max(v), 1),
            "late": sum(x > 0 for x in v),
        }
        for s, v in sorted(buckets.items())
    ]


def avatars_label(args: argparse.Namespace) -> str:
    if not args.distinct_avatars:
        return "one (default)"
    return "distinct, registered at " + ("256" if args.register_at_256 else "the session size")


async def run(args: argparse.Namespace, target: str) -> dict[str, object]:
    client_gc = ClientGC()
    async with grpc.aio.insecure_channel(target) as ch:
        stub = pb_grpc.BridgeStub(ch)  # type: ignore[no-untyped-call]
        ids = ["default"] * args.sessions
        if args.distinct_avatars:  # one NPC face per session, registered before the clock runs
            for k, image in enumerate(portraits(args.sessions)):
                sizes = [] if args.register_at_256 else [args.size]
                request = pb.RegisterAvatarRequest(portrait_image=image, sizes=sizes)
                avatar = await stub.RegisterAvatar(request)
                ids[k] = avatar.id
        # Every line is synthesised before the clock runs: making one on the event loop while
        # other sessions stream held their senders up by up to ~250 ms.
        lines = [voice(args.seconds, seed=k) for k in range(args.sessions)]
        client_gc.start()
        loop_lag = asyncio.create_task(client_loop_lag())
        cpu0, t0 = resource.getrusage(resource.RUSAGE_SELF), now()
        results = await asyncio.gather(
            *(session(stub, args, k, ids[k], lines[k]) for k in range(args.sessions))
        )
        cpu1, wall = resource.getrusage(resource.RUSAGE_SELF), now() - t0
        client_cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
        loop_lag.cancel()
        lags = await asyncio.gather(loop_lag, return_exceptions=True)
    percentiles, by_second = lag_stats(results)
    return {
        "bench": "bridge_concurrency",
        "sessions": args.sessions,
        "size": args.size,
        "encoding": "jpeg",
        "fps": 25,
        "seconds": args.seconds,
        "mode": "burst" if args.burst else "realtime",
        "lookahead_ms": 40 if args.lookahead_ms is None else args.lookahead_ms,
        "avatars": avatars_label(args),
        "playout_delay_ms": None if args.burst else args.playout_delay_ms,
        "all_frames_on_time": all(r["late"] == 0 for r in results),
        "late_frames_total": int(sum(r["late"] for r in results)),
        "speech_frames_total": int(sum(r["frames"] for r in results)),
        "worst_lag_ms": max(r["worst_lag_ms"] for r in results),
        # The smallest playout delay (real time) or start-up buffer after the first frame
        # (burst) with no late frame at all in this run.
        "zero_late_playout_ms": round(
            (0 if args.burst else args.playout_delay_ms)
            + max(0.0, max(r["worst_lag_ms"] for r in results)),
            1,
        ),
        "first_frame_ms_max": max(r["first_frame_ms"] for r in results),
        "max_rtf": max(r["rtf"] for r in results),
        "all_rtf_under_1": all(r["rtf"] < 1 for r in results),
        "per_session": results,
        # playout delay + these = the delay that puts 50 / 90 / 99 / 99.9 % of frames on time
        "lag_ms_percentiles": percentiles,
        "lag_by_second": by_second,
        "cpus": os.cpu_count(),
        "client_gc": client_gc.report(),
        # The load generator's own share of the two cores, and how late its event loop woke
        # (a late loop delays its audio and its arrival stamps, charged to the daemon here).
        "client": {
            "cores": round(client_cpu / wall, 2),
            "loop_lag_ms": lags[0] if isinstance(lags[0], dict) else None,
        },
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=16)
    p.add_argument("--size", type=int, default=256, choices=(256, 512))
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--playout-delay-ms", type=float, default=150.0)
    p.add_argument("--burst", action="store_true", help="send each line at once (TTS clip)")
    p.add_argument(
        "--lookahead-ms", type=int, default=None, help="SessionConfig.lookahead_ms (default 40)"
    )
    p.add_argument(
        "--distinct-avatars", action="store_true", help="a different registered face per session"
    )
    p.add_argument(
        "--register-at-256",
        action="store_true",
        help="with --distinct-avatars: register at the default size only, not the session's",
    )
    p.add_argument("--server", default=None, help="use a running daemon instead of starting one")
    p.add_argument(
        "--daemon-args",
        action="append",
        default=[],
        help="an extra lpm-bridge serve flag, e.g. --daemon-args=--max-batch-frames=64 "
        "(repeat for more)",
    )
    args = p.parse_args()
    if args.server:
        print(json.dumps(asyncio.run(run(args, args.server))))
        return
    with DaemonProcess("--max-sessions", str(max(32, args.sessions)), *args.daemon_args) as daemon:
        before, t0 = daemon.cpu(), now()
        report = asyncio.run(run(args, daemon.target))
        after, wall = daemon.cpu(), now() - t0
        # Where the daemon's time went during the run: cores used, and the kernel's share
        # (page faults of freed-and-refetched buffers show up here).
        report["daemon"] = {
            "cores_user": round((after["user_s"] - before["user_s"]) / wall, 2),
            "cores_kernel": round((after["kernel_s"] - before["kernel_s"]) / wall, 2),
            "minor_faults_per_s": round((after["minor_faults"] - before["minor_faults"]) / wall),
        }
        print(json.dumps(report))


if __name__ == "__main__":
    main()
