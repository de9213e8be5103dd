"""Speed and latency of the audio performance mapper on one CPU thread (JSON out).

* chunk: wall time of ``MotionStream.generate(n)`` for chunk sizes and ODE step counts (median).
* batch: ``sample_batch`` of 8 streams' 16-frame chunks in one call, of 4, 8 and 16
  streams' one-frame chunks (what live sessions hand the daemon: a frame or two each), and
  of 6 streams' chunks of 1-3 frames (a live batch's mix, padded into one call).
* latency: a young stream fed in real-time 10 ms packets; audio time at which frame 0 is ready
  and out (ready + its generate time), served in chunks of what is ready (at most 16).
Usage: python bench/motion_speed.py [--model DIR] [--reps 40]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import torch

from lpm_bridge.mapper import MotionStream, load_motion_model, sample_batch
from lpm_bridge.mapper.model import AudioPerformanceMapper


def speech_like(seconds: float, sr: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    n = int(seconds * sr)
    env = 0.5 + 0.5 * np.sin(np.arange(n) / sr * 2 * np.pi * 4)
    return (rng.normal(0, 0.15, n) * env * 32767).astype(np.int16)


def chunk_times(model: AudioPerformanceMapper, n: int, steps: int, reps: int) -> float:
    s = MotionStream(model, 16000, num_steps=steps)
    s.push_audio(speech_like(reps * n / 25 + 1.0, 16000))
    s.generate(n)  # warm-up
    times = []
    for _ in range(reps - 1):
        t = time.perf_counter()
        s.generate(n)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def batch_time(
    model: AudioPerformanceMapper, streams: int, reps: int, n: int | list[int] = 16
) -> float:
    """Median ``sample_batch`` time of ``streams`` streams' chunks of ``n`` frames (or ``n[i]``)."""
    ns = n if isinstance(n, list) else [n] * streams
    ss = [MotionStream(model, 16000, seed=i) for i in range(streams)]
    for s in ss:
        s.push_audio(speech_like(reps * max(ns) / 25 + 1.0, 16000))
    times = []
    for _ in range(reps):
        reqs = [s.prepare(k) for s, k in zip(ss, ns, strict=True)]
        t = time.perf_counter()
        outs = sample_batch(model, reqs)
        times.append(time.perf_counter() - t)
        for s, r, o in zip(ss, reqs, outs, strict=True):
            s.commit(r, o)
    return statistics.median(times) * 1000


def young_stream(model: AudioPerformanceMapper, sr: int, lookahead_ms: int) -> dict[str, float]:
    s = MotionStream(model, sr, lookahead_ms=lookahead_ms)
    audio = speech_like(1.0, sr)
    packet = sr // 100
    first_ready = first_out = None
    sizes = []
    for i in range(0, len(audio), packet):
        s.push_audio(audio[i : i + packet])
        ready = s.frames_ready
        if ready:
            t = time.perf_counter()
            s.generate(min(ready, 16))
            took = (time.perf_counter() - t) * 1000
            sizes.append(min(ready, 16))
            if first_ready is None:
                first_ready = (i + packet) * 1000 / sr
                first_out = first_ready + took
    return {
        "first_frame_ready_audio_ms": float(first_ready or -1),
        "first_frame_out_ms": float(first_out or -1),
        "chunk_sizes_first_200ms": sizes[:5],
    }  # type: ignore[dict-item]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=None)
    p.add_argument("--reps", type=int, default=40)
    a = p.parse_args()
    torch.set_num_threads(1)
    model = load_motion_model(a.model)
    report: dict[str, object] = {
        "machine": f"{platform.machine()} {platform.processor()}, 1 torch thread",
        "params": sum(int(x.numel()) for x in model.parameters()),
        "chunk_ms": {
            f"n{n}_steps{k}": round(chunk_times(model, n, k, a.reps), 2)
            for n in (1, 2, 4, 8, 16, 32)
            for k in (1, 4, 8)
        },
        "batch8x16_steps4_ms": round(batch_time(model, 8, a.reps // 2), 2),
        **{
            f"batch{b}x1_steps4_ms": round(batch_time(model, b, a.reps, n=1), 2) for b in (4, 8, 16)
        },
        "batch6_mixed_1to3_steps4_ms": round(batch_time(model, 6, a.reps, n=[1, 2, 3, 1, 2, 1]), 2),
        "latency": {
            f"{sr}Hz_look{look}ms": young_stream(model, sr, look)
            for sr in (16000, 44100, 48000, 8000)
            for look in (0, 40, 80)
        },
    }
    c = report["chunk_ms"]
    assert isinstance(c, dict)
    report["realtime_factor_16x4"] = round(16 / 25 * 1000 / c["n16_steps4"], 1)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
