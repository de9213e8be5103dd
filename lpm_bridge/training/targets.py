"""Motion targets from phoneme timing: visemes with coarticulation, blinks, brows, head, breath.

Role in the LPM design: what the mapper learns to perform. The mouth is deterministic given the
phonemes: each phoneme's viseme pose (``lpm_bridge.visemes``) is blended with its neighbours by
dominance functions (a plateau over the phoneme, exponential fall-off outside it, strong and
narrow for lip closures, so /p b m/ always close the lips). Everything the audio does not
determine is drawn at random: blinks (a Poisson process at a human rate), brow raises during
speech, and head motion (slow Ornstein-Uhlenbeck noise, livelier while speaking, plus breathing).
All tracks are sampled at ``TARGET_FPS`` = 100 Hz on the mel timeline (frame i at i * 10 ms).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.ndimage import gaussian_filter1d

from lpm_bridge.audio import MEL_FPS
from lpm_bridge.motion import CH, NUM_CHANNELS, PITCH, ROLL, YAW
from lpm_bridge.training.espeak import Phoneme
from lpm_bridge.visemes import SILENCE, VISEME, VISEME_POSES, viseme_of_ipa

TARGET_FPS: Final[int] = MEL_FPS
FloatArray = npt.NDArray[np.float32]

# Dominance (strength, fall-off seconds) per viseme: lip closures and silence win, vowels lead,
# other consonants yield to their neighbouring vowels (coarticulation).
_DOMINANCE: Final[dict[str, tuple[float, float]]] = {
    "sil": (1.5, 0.05), "PP": (4.0, 0.025), "FF": (2.0, 0.03), "TH": (0.8, 0.03),
    "DD": (0.5, 0.03), "kk": (0.4, 0.03), "CH": (1.2, 0.035), "SS": (0.8, 0.03),
    "nn": (0.5, 0.03), "RR": (0.8, 0.035), "aa": (1.0, 0.05), "E": (1.0, 0.05),
    "ih": (1.0, 0.05), "oh": (1.0, 0.05), "ou": (1.0, 0.05),
}  # fmt: skip
MOUTH_SMOOTH_S: Final[float] = 0.015
MOUTH_LEAD_S: Final[float] = 0.02  # the lips shape a phoneme 20 ms before it sounds
BLINK_RATE_PER_MIN: Final[tuple[float, float]] = (10.0, 25.0)
BLINK_REFRACTORY_S: Final[float] = 0.8
BLINK_CLOSE_S: Final[float] = 0.08
BLINK_OPEN_S: Final[float] = 0.16
HEAD_STD_RAD: Final[tuple[float, float, float]] = (0.035, 0.025, 0.015)  # yaw, pitch, roll
HEAD_TAU_S: Final[float] = 1.2
BREATH_PERIOD_S: Final[tuple[float, float]] = (3.5, 5.0)
BREATH_PITCH_RAD: Final[float] = 0.006


def frame_times(n_frames: int) -> FloatArray:
    return (np.arange(n_frames) / TARGET_FPS).astype(np.float32)


def viseme_track(phonemes: Sequence[Phoneme], n_frames: int) -> npt.NDArray[np.int64]:
    """(T,) viseme of the phoneme covering each 10 ms frame; silence outside all phonemes."""
    out = np.full(n_frames, SILENCE, dtype=np.int64)
    for p in phonemes:
        a, b = round(p.start_s * TARGET_FPS), round(p.end_s * TARGET_FPS)
        out[max(a, 0) : min(b, n_frames)] = viseme_of_ipa(p.symbol)
    return out


def mouth_track(phonemes: Sequence[Phoneme], n_frames: int) -> FloatArray:
    """(T, 55) mouth poses blended by dominance (non-mouth channels zero)."""
    t = frame_times(n_frames)[:, None]  # (T, 1)
    segs = [(viseme_of_ipa(p.symbol), p.start_s, p.end_s) for p in phonemes]
    # Silence before the first and after the last phoneme closes the mouth.
    segs = [(SILENCE, -10.0, segs[0][1] if segs else 1e9), *segs]
    segs.append((SILENCE, segs[-1][2], 1e9))
    vis = np.array([s[0] for s in segs])
    start, end = np.array([s[1] for s in segs]), np.array([s[2] for s in segs])
    strength = np.array([_DOMINANCE[_name(v)][0] for v in vis])
    tau = np.array([_DOMINANCE[_name(v)][1] for v in vis])
    outside = np.maximum(start[None, :] - t, 0.0) + np.maximum(t - end[None, :], 0.0)  # (T, S)
    w = strength[None, :] * np.exp(-outside / tau[None, :])
    w /= w.sum(axis=1, keepdims=True) + 1e-12
    mouth = w @ VISEME_POSES[vis]  # (T, 55)
    smooth = gaussian_filter1d(mouth, MOUTH_SMOOTH_S * TARGET_FPS, axis=0)
    return np.asarray(smooth, dtype=np.float32)


def _name(v: int) -> str:
    return tuple(VISEME)[v]


def speech_activity(visemes: npt.NDArray[np.int64], smooth_s: float = 0.3) -> FloatArray:
    """(T,) in [0, 1]: how much the voice is active around each frame."""
    active = (visemes != SILENCE).astype(np.float32)
    return np.asarray(np.clip(gaussian_filter1d(active, smooth_s * TARGET_FPS), 0, 1), np.float32)


def blink_track(n_frames: int, rng: np.random.Generator) -> FloatArray:
    """(T,) eyelid closure in [0, 1]: Poisson blinks with a refractory gap."""
    rate = rng.uniform(*BLINK_RATE_PER_MIN) / 60.0
    t, out = frame_times(n_frames), np.zeros(n_frames, dtype=np.float32)
    when = rng.uniform(-2.0, 0.5)
    while True:
        when += BLINK_REFRACTORY_S + rng.exponential(1.0 / rate)
        if when > n_frames / TARGET_FPS:
            return out
        amp = rng.uniform(0.85, 1.0)
        close = np.clip((t - when) / BLINK_CLOSE_S + 1.0, 0.0, 1.0)  # ramps up to `when`
        opening = np.clip(1.0 - (t - when) / BLINK_OPEN_S, 0.0, 1.0)
        shape = np.where(t <= when, close, opening)
        out = np.maximum(out, amp * shape * shape * (3 - 2 * shape))  # smoothstep


def ou_noise(n_frames: int, tau_s: float, std: float, rng: np.random.Generator) -> FloatArray:
    """(T,) stationary Ornstein-Uhlenbeck noise with time constant tau_s and stationary std."""
    a = np.exp(-1.0 / (tau_s * TARGET_FPS))
    x = np.empty(n_frames, dtype=np.float32)
    x[0] = rng.normal(0.0, std)
    eps = rng.normal(0.0, std * np.sqrt(1 - a * a), n_frames)
    for i in range(1, n_frames):
        x[i] = a * x[i - 1] + eps[i]
    return x


def head_track(activity: FloatArray, rng: np.random.Generator) -> FloatArray:
    """(T, 3) yaw, pitch, roll in radians: slow drift, livelier when speaking, plus breathing."""
    n = len(activity)
    scale = 0.6 + 0.8 * activity  # speech-correlated amplitude
    head = (
        np.stack([ou_noise(n, HEAD_TAU_S, s, rng) for s in HEAD_STD_RAD], axis=1) * scale[:, None]
    )
    # Small nods follow the speech rhythm: pitch dips as activity rises.
    head[:, 1] -= 0.02 * gaussian_filter1d(np.gradient(activity) * TARGET_FPS, 5.0) * 0.1
    period = rng.uniform(*BREATH_PERIOD_S)
    phase = rng.uniform(0, 2 * np.pi)
    head[:, 1] += BREATH_PITCH_RAD * np.sin(2 * np.pi * frame_times(n) / period + phase)
    return head.astype(np.float32)


def brow_track(activity: FloatArray, rng: np.random.Generator) -> FloatArray:
    """(T,) brow raise in [0, 1]: occasional raises while speaking."""
    n, out = len(activity), np.zeros(len(activity), dtype=np.float32)
    t = frame_times(n)
    for i in np.flatnonzero(rng.random(n) < 0.25 / TARGET_FPS * activity):
        out += rng.uniform(0.2, 0.5) * np.exp(-0.5 * ((t - t[i]) / rng.uniform(0.12, 0.25)) ** 2)
    return np.clip(out, 0.0, 1.0)


def with_pauses(phonemes: Sequence[Phoneme], duration_s: float) -> list[Phoneme]:
    """Phonemes in time order with every stretch no phoneme covers (0..duration_s) a pause
    ``""``, and touching pauses one pause (synthesisers and aligners split them)."""
    filled: list[Phoneme] = []
    t = 0.0
    for p in sorted(phonemes, key=lambda p: p.start_s):
        if p.start_s > t:
            filled.append(Phoneme("", t, p.start_s))
        filled.append(p)
        t = max(t, p.end_s)
    if duration_s > t:
        filled.append(Phoneme("", t, duration_s))
    out: list[Phoneme] = []
    for p in filled:
        if out and viseme_of_ipa(p.symbol) == SILENCE == viseme_of_ipa(out[-1].symbol):
            out[-1] = Phoneme("", out[-1].start_s, max(p.end_s, out[-1].end_s))
        else:
            out.append(p)
    return out


def motion_targets(
    phonemes: Sequence[Phoneme], n_frames: int, rng: np.random.Generator
) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """The full target (T, 55) at 100 Hz and the per-frame viseme truth (T,).

    The mouth leads the sound by ``MOUTH_LEAD_S``: people shape a phoneme before it is heard
    (lips close before a /p/ bursts), and a mouth that trails the voice reads as dubbed.
    """
    # Time no phoneme covers (the gaps between utterances) is a pause: left uncovered, the
    # nearest phonemes' normalised weights moved the mouth in silence (jawOpen 0.3-0.48).
    phonemes = with_pauses(phonemes, n_frames / TARGET_FPS)
    lead = [Phoneme(p.symbol, p.start_s - MOUTH_LEAD_S, p.end_s - MOUTH_LEAD_S) for p in phonemes]
    visemes = viseme_track(phonemes, n_frames)
    motion = mouth_track(lead, n_frames)
    blink = blink_track(n_frames, rng)
    motion[:, CH["eyeBlinkLeft"]] = blink
    motion[:, CH["eyeBlinkRight"]] = np.clip(blink * rng.uniform(0.95, 1.0), 0.0, 1.0)
    activity = speech_activity(visemes)
    brow = brow_track(activity, rng)
    motion[:, CH["browInnerUp"]] = brow
    motion[:, CH["browOuterUpLeft"]] = motion[:, CH["browOuterUpRight"]] = 0.6 * brow
    head = head_track(activity, rng)
    motion[:, YAW], motion[:, PITCH], motion[:, ROLL] = head[:, 0], head[:, 1], head[:, 2]
    assert motion.shape[1] == NUM_CHANNELS
    return motion, visemes
