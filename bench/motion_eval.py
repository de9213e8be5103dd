"""Evaluate the audio performance mapper on held-out espeak voices and on flite voices (JSON out).

Held-out: voices, languages and speaking rates never used in training, with exact phoneme truth.
flite: a synthesiser never used in training; truth is speech/silence from audio energy.
Usage: python bench/motion_eval.py [--model DIR] [--corpus runs/motion_corpus]
       [--figures docs/figures] [--train-log runs/motion_model/train_log.jsonl]
       [--lookahead-ms 40 0]
Without a corpus the held-out clips are synthesised on the fly (same held-out specs).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lpm_bridge.audio import read_wav
from lpm_bridge.mapper import load_motion_model
from lpm_bridge.motion import CH
from lpm_bridge.training.corpus import clip_specs, make_clip
from lpm_bridge.training.evaluate import (
    EvalClip,
    at_fps,
    clip_metrics,
    energy_agreement,
    idle_metrics,
    lag_curve,
    load_eval_clips,
    seed_variety,
    stream_motion,
)
from lpm_bridge.training.figures import line_plot_svg

FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
FLITE_TEXTS = (
    "Welcome back, traveller. The road to the northern village is long, and the bridge is out.",
    "I told you before: never open that door after midnight. Do you understand me?",
    "Gold, silver, and a map of the old mines. That is all I have left to sell.",
    "Hurry! The guards are coming, and we only have a minute before the gate closes.",
)


def heldout_clips(corpus: Path | None, n: int) -> list[EvalClip]:
    if corpus is not None and (corpus / "heldout.npz").is_file():
        return load_eval_clips(str(corpus / "heldout.npz"), n)
    specs = [s for s in clip_specs(0, n, seed=0) if s.heldout]
    return [EvalClip(c.audio, c.sample_rate, c.motion, c.visemes) for c in map(make_clip, specs)]


def flite_wavs(tmp: Path) -> list[tuple[np.ndarray, int]]:
    out = []
    for i, voice in enumerate(FLITE_VOICES):
        for j, text in enumerate(FLITE_TEXTS[:2] if voice != "kal" else FLITE_TEXTS):
            wav = tmp / f"{voice}_{j}.wav"
            subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(wav)], check=True)
            pcm, sr = read_wav(wav)
            audio = pcm.astype(np.float32) / 32768.0
            pad = np.zeros(int(0.6 * sr), dtype=np.float32)
            x = np.concatenate([pad, audio * (0.3 + 0.15 * i), pad])
            out.append(((x * 32767).astype(np.int16), sr))
    return out


def flite_metrics(model: torch.nn.Module) -> dict[str, object]:
    if shutil.which("flite") is None:
        return {"skipped": "flite not installed"}
    agree = total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for audio, sr in flite_wavs(Path(tmp)):
            a, t = energy_agreement(model, audio, sr)  # type: ignore[arg-type]
            agree, total = agree + a, total + t
    return {"voices": list(FLITE_VOICES), "frames": total, "open_agrees_with_speech": agree / total}


def figures(model: torch.nn.Module, clip: EvalClip, out: Path, logs: list[Path]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    g = stream_motion(model, clip.audio, clip.sample_rate, seed=0)  # type: ignore[arg-type]
    t = at_fps(clip.motion, len(g), 25)
    k = np.arange(min(len(g), 250)) / 25
    jaw = CH["jawOpen"]
    (out / "motion_jaw_heldout.svg").write_text(line_plot_svg(
        {"target jawOpen": (k, t[: len(k), jaw]), "generated jawOpen": (k, g[: len(k), jaw]),
         "generated eyeBlinkLeft": (k, g[: len(k), CH["eyeBlinkLeft"]])},
        "Held-out voice: generated vs target (25 fps, 4 steps)", "time (s)", "weight"))  # fmt: skip
    lags = np.arange(-6, 7) * 40
    (out / "motion_lag.svg").write_text(line_plot_svg(
        {"corr(jaw gen shifted, target)": (lags, lag_curve(g[:, jaw], t[:, jaw]))},
        "jawOpen cross-correlation by lag", "lag (ms, >0 = late)", "correlation"))  # fmt: skip
    recs: list[dict[str, float]] = []
    for path in logs:  # stages one after another on a common step axis
        base = recs[-1]["step"] if recs else 0
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            if "loss" in rec:
                recs.append({**rec, "step": base + rec["step"]})
    if recs:
        tr = recs
        ho = [r for r in tr if "heldout_loss" in r]
        (out / "motion_loss.svg").write_text(line_plot_svg(
            {"train loss": ([r["step"] for r in tr], [r["loss"] for r in tr]),
             "held-out loss": ([r["step"] for r in ho], [r["heldout_loss"] for r in ho])},
            "Flow-matching loss", "step", "loss"))  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--corpus", type=Path, default=Path("runs/motion_corpus"))
    p.add_argument("--clips", type=int, default=30)
    p.add_argument("--figures", type=Path, default=None)
    p.add_argument("--train-log", type=Path, nargs="*", default=[], help="stage logs, in order")
    p.add_argument("--no-flite", action="store_true")
    p.add_argument(
        "--lookahead-ms",
        type=int,
        nargs="*",
        default=[],
        help="also report the held-out metrics at these lookaheads (default: the model's max)",
    )
    a = p.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    model = load_motion_model(a.model)
    clips = heldout_clips(a.corpus, a.clips)
    report: dict[str, object] = {
        "model": str(a.model or "shipped"),
        "machine": f"{platform.processor() or platform.machine()}, torch threads 1",
        "heldout": {"clips": len(clips), **clip_metrics(model, clips)},
        "heldout_fps30": clip_metrics(model, clips[:8], fps=30),
        "heldout_fps60": clip_metrics(model, clips[:8], fps=60),
        "seed_variety": seed_variety(model, clips[0]),
        "idle": idle_metrics(model, seconds=120.0),
    }
    for ms in a.lookahead_ms:
        report[f"heldout_lookahead_{ms}ms"] = clip_metrics(model, clips, lookahead_ms=ms)
    if not a.no_flite:
        report["flite"] = flite_metrics(model)
    if a.figures is not None:
        figures(model, clips[0], a.figures, a.train_log)
    report["eval_s"] = round(time.time() - start, 1)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
