"""Soak: one hour of audio (speech and silence) through one MotionStream, faster than real time.

Reports, per 5 minutes of audio: resident memory (RSS), median and p99 chunk time, and the mean
head pose; plus the RSS growth after warm-up (target: within 20 MB) and the largest |mean head|.
Usage: python bench/motion_soak.py [--minutes 60] [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from lpm_bridge.mapper import MotionStream, load_motion_model
from lpm_bridge.motion import YAW
from lpm_bridge.training.corpus import TRAIN_LANGS
from lpm_bridge.training.espeak import EspeakSynth

WINDOW_S = 300
PACKET_MS = 40
CHUNK = 16


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def speech_bank(sr: int = 22050) -> list[np.ndarray]:
    synth = EspeakSynth.get()
    text = "The caravan leaves at dawn, so pack your things and meet me by the old well."
    return [
        synth.synth(text, f"{lang}+m{1 + i % 7}", 150 + 10 * (i % 8)).audio
        for i, lang in enumerate(TRAIN_LANGS[:12])
    ]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--model", default=None)
    a = p.parse_args()
    torch.set_num_threads(1)
    sr = 22050
    bank = speech_bank(sr)
    rng = np.random.default_rng(0)
    stream = MotionStream(load_motion_model(a.model), sr, seed=7)
    packet = sr * PACKET_MS // 1000
    total = int(a.minutes * 60 * sr)
    windows: list[dict[str, float]] = []
    times: list[float] = []
    heads: list[np.ndarray] = []
    pushed, start = 0, time.time()
    while pushed < total:
        piece = (
            bank[int(rng.integers(len(bank)))]
            if rng.random() < 0.6
            else np.zeros(int(rng.uniform(0.5, 8) * sr), np.int16)
        )
        for i in range(0, len(piece), packet):
            stream.push_audio(piece[i : i + packet])
            while stream.frames_ready >= CHUNK:
                t = time.perf_counter()
                heads.append(stream.generate(CHUNK)[:, YAW:])
                times.append(time.perf_counter() - t)
        pushed += len(piece)
        if pushed // (WINDOW_S * sr) > len(windows):
            h = np.degrees(np.concatenate(heads))
            windows.append({"audio_min": round(pushed / sr / 60, 1), "rss_mb": round(rss_mb(), 1),
                            "chunk_ms_median": round(1000 * float(np.median(times)), 2),
                            "chunk_ms_p99": round(1000 * float(np.percentile(times, 99)), 2),
                            "head_mean_deg": [round(float(v), 2) for v in h.mean(0)],
                            "head_std_deg": [round(float(v), 2) for v in h.std(0)]})  # fmt: skip
            times, heads = [], []
    warm = windows[0]["rss_mb"] if windows else float("nan")
    report = {
        "audio_minutes": round(pushed / sr / 60, 1),
        "wall_s": round(time.time() - start, 1),
        "rss_growth_after_warmup_mb": round(max(w["rss_mb"] for w in windows) - warm, 1)
        if windows
        else None,
        "max_abs_window_head_mean_deg": max(
            max(abs(v) for v in w["head_mean_deg"]) for w in windows
        )
        if windows
        else None,  # type: ignore[union-attr]
        "windows": windows,
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
