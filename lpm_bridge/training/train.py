"""Train the audio performance mapper with conditional flow matching, on CPU, in minutes.

Role in the LPM design: produces the shipped checkpoint. Each step samples a batch of chunks from
the synthesised corpus exactly as the run-time stream would see them: a frame rate (25/30/60), a
chunk size (1..32), a lookahead (0..80 ms), the 32 previous target frames as the state buffer
(rest pose before a clip starts, lightly noised so the model tolerates its own outputs), and the
per-frame mel windows. The loss is the flow-matching velocity error on the rectified path. An
exponential moving average of the weights is what gets saved (``save_pretrained``).

Usage: ``lpm-bridge train-motion --corpus runs/motion_corpus --out runs/motion_model --minutes 25``.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import torch

from lpm_bridge.audio import MEL_FPS, SILENCE_VALUE
from lpm_bridge.mapper.config import MAX_CHUNK, MotionMapperConfig
from lpm_bridge.mapper.flow import flow_matching_loss
from lpm_bridge.mapper.io import load_motion_model, save_motion_model
from lpm_bridge.mapper.model import AudioPerformanceMapper
from lpm_bridge.mapper.state import MotionCodec
from lpm_bridge.motion import CH, NUM_CHANNELS
from lpm_bridge.visemes import MOUTH_CHANNELS, VISEME

FPS_CHOICES: Final[tuple[int, ...]] = (25, 30, 60)
FPS_PROBS: Final[tuple[float, ...]] = (0.6, 0.2, 0.2)
DEFAULT_CHUNK_PROB: Final[float] = 0.4  # n = 16 (offline and burst sessions)
# n uniform in 1..3: what live sessions (20 ms audio chunks at real-time pace) ask for; the rest
# of the time n is uniform in 1..32.
LIVE_CHUNK_PROB: Final[float] = 0.25
LIVE_CHUNK_MAX: Final[int] = 3
KEY_VISEMES: Final[tuple[int, ...]] = tuple(VISEME[v] for v in ("PP", "FF", "ou", "oh"))
KEY_VISEME_WEIGHT: Final[float] = 3.0
KEY_VISEME_SPAN: Final[int] = 4  # 10 ms frames from a motion frame's time: the lips lead by 20
STATE_NOISE_MAX: Final[float] = 0.1  # model-space std of the noise added to the state buffer
STREAM_START_PROB: Final[float] = 0.1  # chunks that begin a stream (rest-pose state)
STD_FLOOR_WEIGHT: Final[float] = 0.05
STD_FLOOR_HEAD: Final[float] = 0.01
MOUTH_LOSS_WEIGHT: Final[float] = 2.0
WARMUP_STEPS: Final[int] = 200
MOUTH_TEMPERATURE: Final[float] = 0.3
# Tuned on 16 held-out clips for the shipped (state-prefix) checkpoint: 1.25 / 1.3 / 1.35 gave
# 11.4 / 14.6 / 20.2 blinks a minute at 25 fps (the target tracks: 14.2); 30 fps at 1.3: 20.6.
EYE_TEMPERATURE: Final[float] = 1.3
# At 60 fps each frame draws its own noise 2.4x as often per second: 1.17 gives 13.9 blinks a
# minute there (1.1: 10.3).
EYE_TEMPERATURE_60FPS: Final[float] = 1.17
FloatArray = npt.NDArray[np.float32]


@dataclass
class Corpus:
    """A split in memory: mel (N, M), model-space motion (N, D), clip offsets (C + 1,)."""

    mel: FloatArray
    motion: FloatArray
    offsets: npt.NDArray[np.int64]
    visemes: npt.NDArray[np.int8]  # (N,) the phonemes' viseme per 10 ms frame

    @property
    def lengths(self) -> npt.NDArray[np.int64]:
        return np.diff(self.offsets)


def motion_stats(motion: FloatArray, channels: list[str]) -> tuple[list[float], list[float]]:
    """Per active channel mean and floored std of (N, 55) motion."""
    idx = [CH[c] for c in channels]
    mean = motion[:, idx].mean(0)
    floor = np.array(
        [STD_FLOOR_HEAD if c in ("yaw", "pitch", "roll") else STD_FLOOR_WEIGHT for c in channels]
    )
    std = np.maximum(motion[:, idx].std(0), floor)
    return [float(v) for v in mean], [float(v) for v in std]


def load_corpus(path: Path, codec: MotionCodec) -> Corpus:
    data = np.load(path)
    motion = data["motion"].astype(np.float32)
    assert motion.shape[1] == NUM_CHANNELS
    return Corpus(
        data["mel"].astype(np.float32), codec.encode(motion), data["offsets"], data["visemes"]
    )


@dataclass(frozen=True)
class Batch:
    audio: torch.Tensor  # (B, n, W, M)
    state: torch.Tensor  # (B, S, D)
    target: torch.Tensor  # (B, n, D)
    lookahead: torch.Tensor  # (B,)
    fps_index: torch.Tensor  # (B,)
    frame_weight: torch.Tensor  # (B, n) KEY_VISEME_WEIGHT on frames at a key viseme, else 1


def sample_batch(
    corpus: Corpus, cfg: MotionMapperConfig, rest: FloatArray, rng: np.random.Generator, size: int
) -> Batch:
    """Draw ``size`` training chunks sharing one fps and chunk size."""
    fps = int(rng.choice(FPS_CHOICES, p=FPS_PROBS))
    r = rng.random()
    n = (
        cfg.max_chunk // 2
        if r < DEFAULT_CHUNK_PROB
        else int(rng.integers(1, LIVE_CHUNK_MAX + 1))
        if r < DEFAULT_CHUNK_PROB + LIVE_CHUNK_PROB
        else int(rng.integers(1, MAX_CHUNK + 1))
    )
    lengths = corpus.lengths
    clips = rng.choice(len(lengths), size=size, p=lengths / lengths.sum())
    n_frames = (lengths[clips] - 1) * fps // MEL_FPS + 1  # (B,)
    k0 = (rng.random(size) * np.maximum(n_frames - n + 1, 1)).astype(np.int64)
    starts = rng.random(size) < STREAM_START_PROB
    k0[starts] = rng.integers(0, 8, starts.sum())
    s = cfg.state_frames
    ks = k0[:, None] + np.arange(-s, n)[None, :]  # (B, S + n) frame indices
    u = ks * (MEL_FPS / fps)  # positions on the 100 Hz target timeline
    lo = np.floor(u).astype(np.int64)
    frac = (u - lo)[..., None].astype(np.float32)
    last = (lengths[clips] - 1)[:, None]
    base = corpus.offsets[clips][:, None]
    a = corpus.motion[base + np.clip(lo, 0, last)]
    b = corpus.motion[base + np.clip(lo + 1, 0, last)]
    motion = (1 - frac) * a + frac * b  # (B, S + n, D)
    motion[ks < 0] = rest
    state = motion[:, :s] + rng.normal(0, 1, motion[:, :s].shape) * rng.uniform(
        0, STATE_NOISE_MAX, (size, 1, 1)
    )
    centres = (MEL_FPS * ks[:, s:] + fps // 2) // fps  # (B, n)
    win = centres[..., None] + np.arange(-cfg.past_frames, cfg.lookahead_frames + 1)  # (B, n, W)
    ok = (win >= 0) & (win <= last[..., None])
    audio = np.full((*win.shape, cfg.n_mels), SILENCE_VALUE, dtype=np.float32)
    audio[ok] = corpus.mel[(base[..., None] + win)[ok]]
    look = np.where(
        rng.random(size) < 0.5,
        cfg.lookahead_frames,
        rng.integers(0, cfg.lookahead_frames + 1, size),
    )
    return Batch(
        audio=torch.from_numpy(audio),
        state=torch.from_numpy(state.astype(np.float32)),
        target=torch.from_numpy(motion[:, s:].astype(np.float32)),
        lookahead=torch.from_numpy(look.astype(np.int64)),
        fps_index=torch.full((size,), list(cfg.supported_fps).index(fps), dtype=torch.int64),
        frame_weight=torch.from_numpy(_frame_weights(corpus, base, lo[:, s:], last)),
    )


def _frame_weights(
    corpus: Corpus,
    base: npt.NDArray[np.int64],
    lo: npt.NDArray[np.int64],
    last: npt.NDArray[np.int64],
) -> FloatArray:
    """(B, n) loss weight per chunk frame: ``KEY_VISEME_WEIGHT`` where a key viseme (/p b m/,
    /f v/, rounded vowels) sounds within the next ``MOUTH_LEAD`` of the frame (the targets lead
    the sound), else 1. Why: these brief shapes are few frames among many open ones, and a
    regression to the mean under-reaches them first (lips that do not quite close)."""
    ahead = lo[..., None] + np.arange(KEY_VISEME_SPAN)  # (B, n, k) 10 ms frames
    v = corpus.visemes[base[..., None] + np.clip(ahead, 0, last[..., None])]
    key = np.isin(v, KEY_VISEMES).any(-1)
    return np.where(key, KEY_VISEME_WEIGHT, 1.0).astype(np.float32)


def _channel_weights(cfg: MotionMapperConfig, eye_weight: float = 1.0) -> torch.Tensor:
    """(D,) loss weight per active channel: the lips matter most; blinks may be stressed."""
    return torch.tensor(
        [
            MOUTH_LOSS_WEIGHT
            if c in MOUTH_CHANNELS
            else eye_weight
            if c in ("eyeBlinkLeft", "eyeBlinkRight")
            else 1.0
            for c in cfg.active_channels
        ]
    )


def _loss(
    model: AudioPerformanceMapper, batch: Batch, weights: torch.Tensor, gen: torch.Generator
) -> torch.Tensor:
    cond = model.encode_condition(batch.audio, batch.state, batch.lookahead, batch.fps_index)
    return flow_matching_loss(
        lambda x, t: model.velocity(x, t, cond),
        batch.target,
        generator=gen,
        channel_weights=weights,
        frame_weights=batch.frame_weight,
    )


def _lr(step: int, frac: float, peak: float) -> float:
    """Linear warm-up over steps, then cosine decay to a tenth of the peak over the time budget.

    The schedule follows wall time (``frac`` of the budget spent), not a step count, so it
    ends on time however busy the shared machine is.
    """
    if step < WARMUP_STEPS:
        return peak * (step + 1) / WARMUP_STEPS
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


@dataclass(frozen=True)
class TrainOptions:
    corpus: Path
    out: Path
    minutes: float = 25.0
    batch_size: int = 64
    lr: float = 1.5e-3
    seed: int = 0
    threads: int = 1
    ema: float = 0.999
    log_every: int = 50
    save_every: int = 500
    d_model: int = 128
    n_layers: int = 3
    init: Path | None = None  # fine-tune from this checkpoint (keeps its normalisation)
    # State tokens as a prefix whose keys and values sampling caches across ODE steps
    # (MotionMapperConfig.state_prefix); False trains the original design.
    state_prefix: bool = True
    eye_loss_weight: float = 1.0
    # The lips are hidden from the state buffer (MotionMapperConfig.state_hidden_channels):
    # they must come from the audio, or one-frame live chunks copy their own decaying past.
    hide_mouth_state: bool = True
    # Sampling temperatures written into the saved config (tuned on the held-out split).
    mouth_temperature: float = MOUTH_TEMPERATURE
    eye_temperature: float = EYE_TEMPERATURE


def build_model(opts: TrainOptions, train_motion: FloatArray) -> AudioPerformanceMapper:
    cfg = MotionMapperConfig(
        d_model=opts.d_model,
        n_layers=opts.n_layers,
        state_prefix=opts.state_prefix,
        state_hidden_channels=list(MOUTH_CHANNELS) if opts.hide_mouth_state else None,
    )
    cfg.motion_mean, cfg.motion_std = motion_stats(train_motion, cfg.active_channels)
    torch.manual_seed(opts.seed)
    return AudioPerformanceMapper(cfg)


def train(opts: TrainOptions) -> Path:
    """Train for ``opts.minutes`` of wall time; write ``out/`` (EMA weights) + train_log.jsonl."""
    torch.set_num_threads(opts.threads)
    raw = np.load(opts.corpus / "train.npz")["motion"].astype(np.float32)
    if opts.init is not None:
        model = load_motion_model(opts.init)
        model.train(True)
        model.requires_grad_(True)
        if opts.hide_mouth_state:  # fine-tuning an older checkpoint into the hidden-lips design
            model.config.state_hidden_channels = list(MOUTH_CHANNELS)
            model.state_keep = torch.tensor(model.config.state_keep)
    else:
        model = build_model(opts, raw)
    del raw
    cfg = model.config
    cfg.mouth_temperature, cfg.eye_temperature = opts.mouth_temperature, opts.eye_temperature
    cfg.eye_temperature_by_fps = {"60": EYE_TEMPERATURE_60FPS}
    codec = MotionCodec.from_config(cfg)
    train_set = load_corpus(opts.corpus / "train.npz", codec)
    val_set = load_corpus(opts.corpus / "heldout.npz", codec)
    rest = codec.encode(codec.rest[None])[0]
    ema = copy.deepcopy(model).requires_grad_(False)
    optim = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=0.01)
    rng, gen = np.random.default_rng(opts.seed), torch.Generator().manual_seed(opts.seed)
    weights = _channel_weights(cfg, opts.eye_loss_weight)
    opts.out.mkdir(parents=True, exist_ok=True)
    log = (opts.out / "train_log.jsonl").open("w")
    start, budget, step, running = time.time(), opts.minutes * 60, 0, 0.0
    while time.time() - start < budget:
        for group in optim.param_groups:
            group["lr"] = _lr(step, (time.time() - start) / budget, opts.lr)
        loss = _loss(model, sample_batch(train_set, cfg, rest, rng, opts.batch_size), weights, gen)
        optim.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        _ema_update(ema, model, opts.ema if step > WARMUP_STEPS else 0.0)
        running += float(loss.detach())
        step += 1
        if step % opts.log_every == 0:
            rec = {
                "step": step,
                "loss": running / opts.log_every,
                "lr": optim.param_groups[0]["lr"],
                "elapsed_s": round(time.time() - start, 1),
            }
            if step % (opts.log_every * 4) == 0:
                rec["heldout_loss"] = _eval_loss(ema, val_set, rest, weights)
            log.write(json.dumps(rec) + "\n")
            log.flush()
            running = 0.0
        if step % opts.save_every == 0:
            save_motion_model(ema, opts.out)
    save_motion_model(ema, opts.out)
    log.write(
        json.dumps({"done": True, "steps": step, "elapsed_s": round(time.time() - start, 1)}) + "\n"
    )
    log.close()
    return opts.out


@torch.no_grad()
def _ema_update(ema: AudioPerformanceMapper, model: AudioPerformanceMapper, decay: float) -> None:
    for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
        pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)


@torch.no_grad()
def _eval_loss(
    model: AudioPerformanceMapper, corpus: Corpus, rest: FloatArray, weights: torch.Tensor
) -> float:
    rng, gen = np.random.default_rng(123), torch.Generator().manual_seed(123)
    losses = [
        float(_loss(model, sample_batch(corpus, model.config, rest, rng, 64), weights, gen))
        for _ in range(4)
    ]
    return float(np.mean(losses))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Train the audio performance mapper (flow matching).")
    p.add_argument("--corpus", type=Path, default=Path("runs/motion_corpus"))
    p.add_argument("--out", type=Path, default=Path("runs/motion_model"))
    p.add_argument("--minutes", type=float, default=25.0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1.5e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--init", type=Path, default=None, help="fine-tune from this checkpoint")
    p.add_argument("--eye-loss-weight", type=float, default=1.0)
    a = p.parse_args(argv)
    opts = TrainOptions(a.corpus, a.out, a.minutes, a.batch_size, a.lr, a.seed, a.threads)
    train(replace(opts, init=a.init, eye_loss_weight=a.eye_loss_weight))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
