"""CLI commands of the voice family; see lpm_bridge/cli/__init__.py.

* ``motion``: bake a motion track (JSON or CSV) for any WAV, for 3D rigs offline.
* ``train-motion``: synthesise the corpus (if needed) and train a mapper checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Final

import numpy as np

from lpm_bridge.errors import ConfigError

WAV_TARGET_RATE: Final[int] = 16_000  # WAVs at rates the stream refuses are resampled to this
FINETUNE_LRS: Final[tuple[float, ...]] = (5e-4, 2e-4)  # train-motion stages 2 and 3
DEFAULT_SPEECH: Final[Path] = Path.home() / ".cache" / "lpm-dev-speech"


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this family's subcommands to the lpm-bridge parser."""
    m = sub.add_parser("motion", help="write the motion track (ARKit-52 + head) of a WAV file")
    m.add_argument(
        "--audio", required=True, type=Path, help="speech WAV (any rate, mono or stereo)"
    )
    m.add_argument(
        "--out", required=True, type=Path, help="output track (.json, or .csv with --csv)"
    )
    m.add_argument("--fps", type=int, default=25, help="frames per second: 25, 30 or 60")
    m.add_argument("--seed", type=int, default=0, help="noise seed (blinks, head motion)")
    m.add_argument("--steps", type=int, default=4, help="ODE steps, 1..32")
    m.add_argument("--lookahead-ms", type=int, default=None, help="audio lookahead, 0..80 ms")
    m.add_argument(
        "--csv", action="store_true", help="write CSV (time + 55 channels) instead of JSON"
    )
    m.add_argument("--model", type=Path, default=None, help="checkpoint dir (default: shipped)")
    m.set_defaults(func=run_motion)

    t = sub.add_parser("train-motion", help="synthesise the speech corpus and train the mapper")
    t.add_argument("--corpus", type=Path, default=Path("runs/motion_corpus"))
    t.add_argument("--out", type=Path, default=Path("runs/motion_model"))
    t.add_argument("--minutes", type=float, default=25.0, help="stage 1 wall time (lr 1.5e-3)")
    t.add_argument(
        "--finetune-minutes",
        type=float,
        default=12.0,
        help="wall time of each fine-tune stage (lr 5e-4, then 2e-4); 0 skips them",
    )
    t.add_argument("--train-clips", type=int, default=1200)
    t.add_argument("--heldout-clips", type=int, default=60)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--workers", type=int, default=2, help="processes for corpus synthesis")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument(
        "--espeak-data",
        type=Path,
        default=DEFAULT_SPEECH / "espeak",
        help="espeak-ng data folder with MBROLA voices (../shared/datasets/fetch_speech.sh); "
        "its ../mbrola/bin goes on PATH; without it the corpus is formant voices only",
    )
    t.add_argument(
        "--init", type=Path, default=None, help="start from this checkpoint (e.g. the shipped one)"
    )
    t.set_defaults(func=run_train)


def run_motion(args: argparse.Namespace) -> int:
    import soxr

    from lpm_bridge.audio import MAX_RATE, MIN_RATE, read_wav
    from lpm_bridge.mapper import MotionStream, load_motion_model
    from lpm_bridge.motion import MotionTrack

    pcm, rate = read_wav(args.audio)
    audio = pcm.astype(np.float32) / 32768.0
    if not MIN_RATE <= rate <= MAX_RATE:
        print(f"note: resampling {rate} Hz to {WAV_TARGET_RATE} Hz", file=sys.stderr)
        audio = np.asarray(soxr.resample(audio, rate, WAV_TARGET_RATE), dtype=np.float32)
        rate = WAV_TARGET_RATE
    model = load_motion_model(args.model)
    stream = MotionStream(
        model, rate, fps=args.fps, num_steps=args.steps, seed=args.seed,
        lookahead_ms=args.lookahead_ms, max_chunk=16,
    )  # fmt: skip
    parts = []
    step = rate  # one second per push keeps pending audio (and memory) bounded
    for i in range(0, len(audio), step):
        stream.push_audio(audio[i : i + step])
        parts.append(stream.generate_ready())
    stream.flush()
    parts.append(stream.generate_ready())
    n_frames = int(np.ceil(len(audio) * args.fps / rate))
    track = MotionTrack(fps=args.fps, frames=np.concatenate(parts)[:n_frames])
    if args.csv:
        track.save_csv(args.out)
    else:
        track.save(args.out)
    print(
        f"wrote {len(track.frames)} frames ({track.duration_s:.2f} s at {args.fps} fps) "
        f"to {args.out}"
    )
    return 0


def _use_mbrola(data: Path) -> None:
    """Point libespeak-ng (in this process and the corpus workers) at MBROLA voices, if there."""
    import os

    from lpm_bridge.training.espeak import ESPEAK_DATA_ENV

    if not (data / "espeak-ng-data" / "mbrola").is_dir():
        print(f"note: no MBROLA voices in {data}; formant voices only", file=sys.stderr)
        return
    os.environ[ESPEAK_DATA_ENV] = str(data)
    os.environ["PATH"] = f"{data.parent / 'mbrola' / 'bin'}{os.pathsep}{os.environ['PATH']}"


def run_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from lpm_bridge.training.corpus import build_corpus
    from lpm_bridge.training.train import TrainOptions, train

    if args.minutes <= 0 or args.finetune_minutes < 0:
        raise ConfigError("--minutes must be positive", field="minutes")
    _use_mbrola(args.espeak_data)
    if not (args.corpus / "train.npz").is_file():
        build_corpus(args.corpus, args.train_clips, args.heldout_clips, args.seed, args.workers)
    lrs = FINETUNE_LRS if args.finetune_minutes else ()
    outs = [args.out.with_name(f"{args.out.name}_stage{i + 1}") for i in range(len(lrs))]
    outs.append(args.out)
    opts = TrainOptions(args.corpus, outs[0], args.minutes, seed=args.seed, threads=args.threads)
    done = train(replace(opts, init=args.init))
    for lr, out in zip(lrs, outs[1:], strict=True):
        # Fine-tune stages: the same objective at a lower learning rate, from the last EMA weights.
        stage = replace(opts, out=out, minutes=args.finetune_minutes, lr=lr, init=done)
        done = train(stage)
    logs = ", ".join(str(o / "train_log.jsonl") for o in outs)
    print(f"checkpoint written to {done} (loss curves: {logs})")
    return 0
