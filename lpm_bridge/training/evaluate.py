"""Metrics of the audio performance mapper against exact phoneme truth (and audio energy).

Role in the LPM design: how we know the mapper performs. Every clip is streamed through the real
run-time path (``MotionStream``, chunks of 16 at 25 fps, 4 ODE steps) and compared with its
target: ``jawOpen`` correlation, lag (cross-correlation peak), viseme accuracy, mouth closed in
silence, mouth open on vowels, blink rate, and seed variety. For voices with no phoneme truth
(flite) speech/silence comes from audio energy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from lpm_bridge.audio import MEL_FPS
from lpm_bridge.mapper.model import AudioPerformanceMapper
from lpm_bridge.mapper.stream import MotionStream
from lpm_bridge.motion import CH, YAW
from lpm_bridge.visemes import SILENCE, VOWELS, visemes_from_motion

OPEN_THRESHOLD: Final[float] = 0.15  # jawOpen above this is a visibly open mouth
BLINK_THRESHOLD: Final[float] = 0.5
MAX_LAG_FRAMES: Final[int] = 6
EVAL_CHUNK: Final[int] = 16
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class EvalClip:
    """Audio with its 100 Hz target (T, 55) and viseme truth (T,)."""

    audio: npt.NDArray[np.int16]
    sample_rate: int
    motion: FloatArray
    visemes: npt.NDArray[np.int64]


def stream_motion(
    model: AudioPerformanceMapper,
    audio: npt.NDArray[np.int16],
    sample_rate: int,
    *,
    fps: int = 25,
    seed: int = 0,
    num_steps: int = 4,
    chunk: int = EVAL_CHUNK,
    push_ms: int = 40,
    lookahead_ms: int | None = None,
) -> FloatArray:
    """Stream ``audio`` through a fresh MotionStream in real-time-sized pushes: (K, 55).

    ``lookahead_ms`` None: the model's maximum (80 ms for the shipped one).
    """
    stream = MotionStream(
        model,
        sample_rate,
        fps=fps,
        num_steps=num_steps,
        seed=seed,
        max_chunk=chunk,
        lookahead_ms=lookahead_ms,
    )
    step = max(1, sample_rate * push_ms // 1000)
    out = []
    for i in range(0, len(audio), step):
        stream.push_audio(audio[i : i + step])
        while stream.frames_ready >= chunk:
            out.append(stream.generate(chunk))
    stream.flush()
    out.append(stream.generate_ready())
    return np.concatenate(out)


def at_fps(track: npt.NDArray[Any], n_frames: int, fps: int) -> npt.NDArray[Any]:
    """Sample a 100 Hz track at ``fps``: frame k takes 100 Hz frame round(k * 100 / fps)."""
    idx = np.minimum((MEL_FPS * np.arange(n_frames) + fps // 2) // fps, len(track) - 1)
    return track[idx]


def lag_curve(gen: FloatArray, ref: FloatArray) -> FloatArray:
    """Correlation of gen shifted by each lag in -MAX..MAX frames (lag > 0: gen is late)."""
    out = []
    for lag in range(-MAX_LAG_FRAMES, MAX_LAG_FRAMES + 1):
        a = gen[max(lag, 0) : len(gen) + min(lag, 0)]
        b = ref[max(-lag, 0) : len(ref) - max(lag, 0)]
        out.append(np.corrcoef(a, b)[0, 1] if len(a) > 2 and a.std() > 0 and b.std() > 0 else 0.0)
    return np.asarray(out, dtype=np.float32)


def count_blinks(blink: FloatArray) -> int:
    closed = blink > BLINK_THRESHOLD
    return int(np.count_nonzero(closed[1:] & ~closed[:-1]) + int(closed[0]))


def clip_metrics(
    model: AudioPerformanceMapper,
    clips: Sequence[EvalClip],
    fps: int = 25,
    seed: int = 0,
    lookahead_ms: int | None = None,
) -> dict[str, float]:
    """Pooled metrics over clips (see the module docstring)."""
    gens, tgts, vis = [], [], []
    for c in clips:
        g = stream_motion(
            model, c.audio, c.sample_rate, fps=fps, seed=seed, lookahead_ms=lookahead_ms
        )
        gens.append(g)
        tgts.append(at_fps(c.motion, len(g), fps))
        vis.append(at_fps(c.visemes, len(g), fps))
    gen, tgt, truth = np.concatenate(gens), np.concatenate(tgts), np.concatenate(vis)
    jaw, jaw_t = gen[:, CH["jawOpen"]], tgt[:, CH["jawOpen"]]
    curves = np.mean(
        [
            lag_curve(g[:, CH["jawOpen"]], t[:, CH["jawOpen"]])
            for g, t in zip(gens, tgts, strict=True)
        ],
        axis=0,
    )
    lag = int(np.argmax(curves)) - MAX_LAG_FRAMES
    sil, vowel = truth == SILENCE, np.isin(truth, list(VOWELS))
    minutes = len(gen) / fps / 60
    pred_vis = visemes_from_motion(gen)
    return {
        "frames": len(gen),
        "jaw_corr": float(np.corrcoef(jaw, jaw_t)[0, 1]),
        "jaw_corr_per_clip_mean": float(
            np.mean(
                [
                    np.corrcoef(g[:, CH["jawOpen"]], t[:, CH["jawOpen"]])[0, 1]
                    for g, t in zip(gens, tgts, strict=True)
                ]
            )
        ),
        "mouth_mae": float(np.abs(gen[:, CH["jawOpen"]] - jaw_t).mean()),
        "lag_frames": lag,
        "lag_ms": lag * 1000.0 / fps,
        "viseme_acc_vs_phonemes": float((pred_vis == truth).mean()),
        "viseme_acc_vs_target_poses": float((pred_vis == visemes_from_motion(tgt)).mean()),
        "silence_mouth_closed": float((jaw[sil] <= OPEN_THRESHOLD).mean()),
        # the same, leaving out silent frames within one frame (the lag tolerance) of speech
        "silence_mouth_closed_1frame_tol": float(
            (jaw[sil & ~dilate(~sil, 1)] <= OPEN_THRESHOLD).mean()
        ),
        "vowel_mouth_open": float((jaw[vowel] > OPEN_THRESHOLD).mean()),
        "target_vowel_mouth_open": float((jaw_t[vowel] > OPEN_THRESHOLD).mean()),
        "blinks_per_min": sum(count_blinks(g[:, CH["eyeBlinkLeft"]]) for g in gens) / minutes,
        "target_blinks_per_min": sum(count_blinks(t[:, CH["eyeBlinkLeft"]]) for t in tgts)
        / minutes,
    }


def seed_variety(
    model: AudioPerformanceMapper, clip: EvalClip, seeds: tuple[int, int] = (1, 2), fps: int = 25
) -> dict[str, float]:
    """Two seeds, one clip: lips should agree, blinks and head should differ."""
    a, b = (stream_motion(model, clip.audio, clip.sample_rate, fps=fps, seed=s) for s in seeds)
    blink_a, blink_b = (
        a[:, CH["eyeBlinkLeft"]] > BLINK_THRESHOLD,
        b[:, CH["eyeBlinkLeft"]] > BLINK_THRESHOLD,
    )
    return {
        "jaw_corr_between_seeds": float(
            np.corrcoef(a[:, CH["jawOpen"]], b[:, CH["jawOpen"]])[0, 1]
        ),
        "blink_frames_differ": float((blink_a != blink_b).mean()),
        "blink_frames_any": float((blink_a | blink_b).mean()),
        "yaw_rms_diff_deg": float(np.degrees(np.sqrt(((a[:, YAW] - b[:, YAW]) ** 2).mean()))),
        "yaw_std_deg": float(np.degrees(a[:, YAW].std())),
    }


def idle_metrics(
    model: AudioPerformanceMapper, seconds: float = 120.0, fps: int = 25, seed: int = 0
) -> dict[str, Any]:
    """Silence only: mouth closed, blinks at a human rate, a little head motion."""
    sr = 16000
    g = stream_motion(
        model, np.zeros(int(seconds * sr), dtype=np.int16), sr, fps=fps, seed=seed, chunk=EVAL_CHUNK
    )
    head = np.degrees(g[:, YAW:])
    return {
        "seconds": seconds,
        "mouth_closed": float((g[:, CH["jawOpen"]] <= OPEN_THRESHOLD).mean()),
        "jaw_mean": float(g[:, CH["jawOpen"]].mean()),
        "blinks_per_min": count_blinks(g[:, CH["eyeBlinkLeft"]]) / (seconds / 60),
        "head_std_deg": [float(v) for v in head.std(0)],
        "head_mean_deg": [float(v) for v in head.mean(0)],
        "frame_to_frame_max_jump": float(np.abs(np.diff(g, axis=0)).max()),
    }


def energy_speech(
    audio: npt.NDArray[np.int16], sample_rate: int, n_frames: int, fps: int, floor_db: float = -40.0
) -> npt.NDArray[np.bool_]:
    """(K,) speech/silence from audio energy: frame RMS over 1/fps within floor_db of the peak."""
    x = audio.astype(np.float32) / 32768.0
    hop = sample_rate / fps
    rms = np.array([
        np.sqrt(np.mean(x[int(k * hop) : int((k + 1) * hop)] ** 2) + 1e-12)
        if int(k * hop) < len(x)
        else 0.0
        for k in range(n_frames)
    ])  # fmt: skip
    db = 20 * np.log10(rms + 1e-9)
    return np.asarray(db > db.max() + floor_db)


def dilate(mask: npt.NDArray[np.bool_], radius: int) -> npt.NDArray[np.bool_]:
    """Boolean dilation by ``radius`` frames on both sides."""
    out = mask.copy()
    for r in range(1, radius + 1):
        out[r:] |= mask[:-r]
        out[:-r] |= mask[r:]
    return out


def energy_agreement(
    model: AudioPerformanceMapper,
    audio: npt.NDArray[np.int16],
    sample_rate: int,
    fps: int = 25,
    seed: int = 0,
) -> tuple[int, int]:
    """Frames where 'mouth open' agrees with 'speech' (both smoothed over +-2 frames), of all.

    Open = jawOpen above threshold within +-2 frames (a lip closure inside a word is still
    speaking); speech = energy within 40 dB of the peak within +-2 frames.
    """
    g = stream_motion(model, audio, sample_rate, fps=fps, seed=seed)
    speech = dilate(energy_speech(audio, sample_rate, len(g), fps), 2)
    open_ = dilate(g[:, CH["jawOpen"]] > OPEN_THRESHOLD, 2)
    return int((speech == open_).sum()), len(g)


def load_eval_clips(path: str, limit: int | None = None) -> list[EvalClip]:
    """Held-out clips saved by ``corpus.save_split`` (with their audio)."""
    data = np.load(path)
    o, srs = data["offsets"], data["sample_rates"]
    n = len(o) - 1 if limit is None else min(limit, len(o) - 1)
    return [
        EvalClip(
            audio=data[f"audio_{i}"],
            sample_rate=int(srs[i]),
            motion=data["motion"][o[i] : o[i + 1]].astype(np.float32),
            visemes=data["visemes"][o[i] : o[i + 1]].astype(np.int64),
        )
        for i in range(n)
    ]
