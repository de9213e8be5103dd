"""Phoneme-level scores of generated motion: do the lips do what each sound needs, on time?

Role in the LPM design: the held-out figures of the audio performance mapper (issue 15) on any
speech with phoneme timing (synthesised with exact events, or forced-aligned recordings). Each
phoneme of a class is one case, judged on the motion frames within ``TOLERANCE_FRAMES`` of it:

* bilabial /p b m/: lips closed (``lip_gap`` at most ``closed_gap``) on some frame (also
  reported at the stricter ``closed_gap_strict``, and as ``closing``: closed, with the jaw
  open within ``CLOSING_FRAMES``, since a mouth that never opens is trivially 'closed');
* open vowels (viseme ``aa``): ``jawOpen`` above ``open_jaw`` on some frame;
* rounded /u o w/ (visemes ``ou``, ``oh``): ``mouthFunnel + mouthPucker`` above ``rounded``;
* labiodental /f v/: lower lip rolled in to the teeth, ``mouthRollLower`` above ``labiodental``;
* pauses of ``MIN_PAUSE_S`` or more: every frame ``PAUSE_MARGIN_FRAMES`` inside the pause has
  ``jawOpen`` at most ``rest_jaw`` (scored per frame);
* lag: cross-correlation of ``jawOpen`` with the target's (``lag > 0``: the mouth trails);
  the target (``target_mouth``) is on the sound's own timing, with no anticipation, so a mouth
  that leads slightly reads -0.5..0 frames.

The ``Thresholds`` defaults are set so the training targets themselves (``targets.mouth_track``
on the same phonemes, sampled at 25 fps) pass 96-100 % on every voice group; bench/voice_eval.py
reports the targets' own scores beside the model's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from lpm_bridge.audio import MEL_FPS
from lpm_bridge.motion import CH
from lpm_bridge.training.espeak import Phoneme
from lpm_bridge.training.evaluate import MAX_LAG_FRAMES, lag_curve
from lpm_bridge.training.targets import mouth_track, with_pauses
from lpm_bridge.visemes import SILENCE, VISEME, viseme_of_ipa

FloatArray = npt.NDArray[np.float32]
TOLERANCE_FRAMES: Final[int] = 1
MIN_PAUSE_S: Final[float] = 0.3
# Frames at each end of a pause left out: the mouth may still be closing from the last sound or
# opening for the next (the targets take ~80 ms to settle, see targets._DOMINANCE).
PAUSE_MARGIN_FRAMES: Final[int] = 2
# A closure is a movement: 'closing' also asks for the jaw open within this many frames of the
# /p b m/ (a mouth that never opens passes 'closed' trivially).
CLOSING_FRAMES: Final[int] = 5
BILABIAL: Final[frozenset[int]] = frozenset({VISEME["PP"]})
OPEN_VOWEL: Final[frozenset[int]] = frozenset({VISEME["aa"]})
ROUNDED: Final[frozenset[int]] = frozenset({VISEME["ou"], VISEME["oh"]})
LABIODENTAL: Final[frozenset[int]] = frozenset({VISEME["FF"]})
FLAT_JAW: Final[float] = 1e-3  # jawOpen std below this: a still mouth, no lag to measure
_JAW, _CLOSE = CH["jawOpen"], CH["mouthClose"]
_PARTING: Final[tuple[int, ...]] = tuple(
    CH[c]
    for c in ("mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight")
)


@dataclass(frozen=True)
class Thresholds:
    """What counts as closed, open, rounded, lip-to-teeth and at rest (blendshape weights)."""

    # lip_gap at or below: lips together. The targets sampled at 25 fps reach 0.10 on only
    # 65-78 % of /p b m/ (a short closure between open vowels is coarticulated and falls
    # between frames) and 0.18 on 96-100 %; the strict figure is reported beside.
    closed_gap: float = 0.18
    closed_gap_strict: float = 0.10
    open_jaw: float = 0.20  # jawOpen above: open for an open vowel (targets: min 0.20)
    rounded: float = 0.20  # mouthFunnel + mouthPucker above: rounded (targets: min 0.20)
    labiodental: float = 0.20  # mouthRollLower above: lower lip to teeth (targets: min 0.23)
    rest_jaw: float = 0.15  # jawOpen at or below in a pause: at rest (evaluate.OPEN_THRESHOLD)


@dataclass(frozen=True)
class Span:
    """One phoneme (or run of frames) of viseme class ``viseme``, in seconds."""

    viseme: int
    start_s: float
    end_s: float


@dataclass
class Tally:
    """Cases passed of cases seen."""

    hits: int = 0
    cases: int = 0

    def add(self, ok: npt.ArrayLike) -> None:
        arr = np.atleast_1d(np.asarray(ok, dtype=bool))
        self.hits += int(arr.sum())
        self.cases += int(arr.size)

    def merge(self, other: Tally) -> None:
        self.hits += other.hits
        self.cases += other.cases

    @property
    def rate(self) -> float | None:
        return round(self.hits / self.cases, 4) if self.cases else None


@dataclass
class ClipScore:
    """One clip's cases by class, and its jawOpen lag curve against the target."""

    bilabial: Tally = field(default_factory=Tally)
    bilabial_strict: Tally = field(default_factory=Tally)
    bilabial_closing: Tally = field(default_factory=Tally)
    open_vowel: Tally = field(default_factory=Tally)
    rounded: Tally = field(default_factory=Tally)
    labiodental: Tally = field(default_factory=Tally)
    pause_rest: Tally = field(default_factory=Tally)  # frames
    lag_curve: FloatArray | None = None  # correlation at lags -MAX..MAX frames; None: flat jaw


# One IPA symbol per viseme, to turn a viseme track back into phonemes (viseme_of_ipa of each
# gives its viseme back).
_VISEME_SYMBOL: Final[dict[int, str]] = {
    VISEME[name]: sym
    for name, sym in (
        ("sil", ""), ("PP", "p"), ("FF", "f"), ("TH", "θ"), ("DD", "t"), ("kk", "k"),
        ("CH", "ʃ"), ("SS", "s"), ("nn", "n"), ("RR", "r"), ("aa", "a"), ("E", "e"),
        ("ih", "i"), ("oh", "o"), ("ou", "u"),
    )
}  # fmt: skip


def phonemes_from_visemes(track: npt.NDArray[np.int64], rate: int = MEL_FPS) -> list[Phoneme]:
    """Runs of equal viseme in a (T,) track at ``rate`` Hz (a corpus clip's truth) as phonemes,
    one representative symbol per viseme (neighbours of one viseme, /m b/, become one)."""
    if len(track) == 0:
        return []
    edges = np.flatnonzero(np.diff(track)) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [len(track)]])
    return [
        Phoneme(_VISEME_SYMBOL[int(track[a])], a / rate, b / rate)
        for a, b in zip(starts, ends, strict=True)
    ]


def spans_from_phonemes(phonemes: Sequence[Phoneme], duration_s: float) -> list[Span]:
    """One span per phoneme, pauses filled in and merged (``with_pauses``)."""
    return [
        Span(viseme_of_ipa(p.symbol), p.start_s, p.end_s) for p in with_pauses(phonemes, duration_s)
    ]


def target_mouth(phonemes: Sequence[Phoneme], duration_s: float) -> FloatArray:
    """(T, 55) the training targets' mouth at 100 Hz on the sound's own timing (no lead), with
    pauses where no phoneme is (``targets.mouth_track`` lets the nearest phonemes fill gaps)."""
    n = int(np.ceil(duration_s * MEL_FPS))
    return mouth_track(with_pauses(phonemes, duration_s), n)


def lip_gap(motion: FloatArray) -> FloatArray:
    """(K,) how far apart the lips are: the jaw's opening not taken back by ``mouthClose``
    (ARKit: close == jaw is lips together), plus the lips' own parting (lower down, upper up)."""
    jaw, close = motion[:, _JAW], motion[:, _CLOSE]
    parting = motion[:, _PARTING].mean(axis=1)
    return np.asarray(np.maximum(jaw - close, 0.0) + parting, dtype=np.float32)


def _window(span: Span, fps: int, n: int) -> slice:
    """Frames of ``span`` (nearest frame times), widened by the tolerance, clipped to 0..n."""
    a = round(span.start_s * fps)
    b = max(a, round(span.end_s * fps) - 1)
    return slice(max(a - TOLERANCE_FRAMES, 0), min(b + TOLERANCE_FRAMES + 1, n))


def score_clip(
    motion: FloatArray,
    fps: int,
    spans: Sequence[Span],
    target: FloatArray | None = None,
    th: Thresholds = Thresholds(),
) -> ClipScore:
    """Score ``motion: (K, 55)`` at ``fps`` against phoneme ``spans`` (and the ``target``'s
    jawOpen for the lag; ``target: (K, 55)`` on the same frames)."""
    n, out = len(motion), ClipScore()
    gap, jaw = lip_gap(motion), motion[:, _JAW]
    round_ = motion[:, CH["mouthFunnel"]] + motion[:, CH["mouthPucker"]]
    roll = motion[:, CH["mouthRollLower"]]
    for s in spans:
        w = _window(s, fps, n)
        if w.start >= w.stop:
            continue
        if s.viseme in BILABIAL:
            closed = gap[w].min() <= th.closed_gap
            out.bilabial.add(closed)
            out.bilabial_strict.add(gap[w].min() <= th.closed_gap_strict)
            near = slice(max(w.start - CLOSING_FRAMES, 0), w.stop + CLOSING_FRAMES)
            out.bilabial_closing.add(closed and jaw[near].max() > th.open_jaw)
        elif s.viseme in OPEN_VOWEL:
            out.open_vowel.add(jaw[w].max() > th.open_jaw)
        elif s.viseme in ROUNDED:
            out.rounded.add(round_[w].max() > th.rounded)
        elif s.viseme in LABIODENTAL:
            out.labiodental.add(roll[w].max() > th.labiodental)
        elif s.viseme == SILENCE and s.end_s - s.start_s >= MIN_PAUSE_S:
            a = round(s.start_s * fps) + PAUSE_MARGIN_FRAMES
            b = min(round(s.end_s * fps) - PAUSE_MARGIN_FRAMES, n)
            if b > a:
                out.pause_rest.add(jaw[a:b] <= th.rest_jaw)
    if target is not None and n > 2 * MAX_LAG_FRAMES and jaw.std() > FLAT_JAW:
        out.lag_curve = lag_curve(jaw, target[:n, _JAW])
    return out


def peak_lag(curve: FloatArray) -> float:
    """Lag (frames, > 0: the mouth trails) at the curve's peak, refined by a parabola."""
    i = int(np.argmax(curve))
    lag = float(i - MAX_LAG_FRAMES)
    if 0 < i < len(curve) - 1:
        y0, y1, y2 = (float(v) for v in curve[i - 1 : i + 2])
        denom = y0 - 2 * y1 + y2
        if denom < 0:
            lag += 0.5 * (y0 - y2) / denom
    return lag


def summarize(scores: Sequence[ClipScore], fps: int) -> dict[str, object]:
    """Pooled rates per class, the pooled lag and each clip's lag (frames and ms)."""
    total = ClipScore()
    for s in scores:
        for name in ("bilabial", "bilabial_strict", "bilabial_closing", "open_vowel",
                     "rounded", "labiodental", "pause_rest"):  # fmt: skip
            getattr(total, name).merge(getattr(s, name))
    curves = [s.lag_curve for s in scores if s.lag_curve is not None]
    report: dict[str, object] = {
        name: {"rate": t.rate, "cases": t.cases}
        for name, t in (
            ("bilabial_closed", total.bilabial),
            ("bilabial_closed_strict", total.bilabial_strict),
            ("bilabial_closing", total.bilabial_closing),
            ("open_vowel_jaw", total.open_vowel),
            ("rounded_lips", total.rounded),
            ("labiodental_lip", total.labiodental),
            ("pause_at_rest_frames", total.pause_rest),
        )
    }
    if curves:
        pooled = np.mean(curves, axis=0)
        lags = [int(np.argmax(c)) - MAX_LAG_FRAMES for c in curves]
        report["lag_frames"] = round(peak_lag(pooled), 2)
        report["lag_ms"] = round(peak_lag(pooled) * 1000 / fps, 1)
        report["lag_peak_corr"] = round(float(pooled.max()), 3)
        report["clip_lags_frames"] = " ".join(map(str, lags))
        report["clips_lag_0_to_1_mouth_first"] = round(
            float(np.mean([-1 <= v <= 0 for v in lags])), 3
        )
    report["clips_flat_jaw"] = sum(s.lag_curve is None for s in scores)  # no lag measured
    return report


def open_fraction(motion: FloatArray, threshold: float = Thresholds.rest_jaw) -> float:
    """Share of frames with the mouth visibly open (``jawOpen`` above ``threshold``)."""
    return float((motion[:, _JAW] > threshold).mean()) if len(motion) else 0.0


def jitter(motion: FloatArray) -> float:
    """Mean absolute frame-to-frame change of ``jawOpen``."""
    return float(np.abs(np.diff(motion[:, _JAW])).mean()) if len(motion) > 1 else 0.0
