"""Phoneme-level scores: the targets pass, a frozen or late mouth fails, pauses are pauses."""

import numpy as np
import pytest

from lpm_bridge.motion import CH
from lpm_bridge.training.espeak import Phoneme
from lpm_bridge.training.evaluate import at_fps
from lpm_bridge.training.phoneme_metrics import (
    jitter,
    open_fraction,
    peak_lag,
    phonemes_from_visemes,
    score_clip,
    spans_from_phonemes,
    summarize,
    target_mouth,
    with_pauses,
)
from lpm_bridge.visemes import SILENCE, VISEME, viseme_of_ipa

pytestmark = pytest.mark.timeout(20)
FPS = 25


def word(t0: float, symbols: str, dur: float = 0.09) -> list[Phoneme]:
    return [Phoneme(s, t0 + i * dur, t0 + (i + 1) * dur) for i, s in enumerate(symbols)]


def utterance() -> tuple[list[Phoneme], float]:
    """'mapa bofu' then a 0.8 s gap with no phonemes, then 'amo vu'."""
    ph = word(0.5, "mapabofu") + word(2.0, "amovu")
    return ph, 3.0


def frames(ph: list[Phoneme], duration: float) -> np.ndarray:
    return at_fps(target_mouth(ph, duration), int(np.ceil(duration * FPS)), FPS)


def test_targets_pass_every_class_and_have_zero_lag() -> None:
    ph, dur = utterance()
    t = frames(ph, dur)
    r = summarize([score_clip(t, FPS, spans_from_phonemes(ph, dur), t)], FPS)
    for key in ("bilabial_closed", "bilabial_closing", "open_vowel_jaw", "rounded_lips",
                "labiodental_lip", "pause_at_rest_frames"):  # fmt: skip
        assert r[key] == {"rate": 1.0, "cases": r[key]["cases"]}, (key, r[key])  # type: ignore[index]
    assert r["bilabial_closed"]["cases"] == 4  # type: ignore[index]
    assert r["lag_frames"] == 0.0


def test_frozen_open_mouth_fails_closures_and_pauses() -> None:
    ph, dur = utterance()
    t = frames(ph, dur)
    frozen = np.zeros_like(t)
    frozen[:, CH["jawOpen"]] = 0.4
    s = score_clip(frozen, FPS, spans_from_phonemes(ph, dur), t)
    assert s.bilabial.hits == 0 and s.bilabial.cases == 4
    assert s.pause_rest.hits == 0 and s.pause_rest.cases > 10
    assert s.open_vowel.rate == 1.0  # open is open, even when it never closes


def test_mouth_that_never_opens_is_closed_but_not_closing() -> None:
    ph, dur = utterance()
    t = frames(ph, dur)
    shut = np.zeros_like(t)
    s = score_clip(shut, FPS, spans_from_phonemes(ph, dur), t)
    assert s.bilabial.rate == 1.0 and s.bilabial_closing.rate == 0.0
    assert s.open_vowel.rate == 0.0 and s.rounded.rate == 0.0 and s.labiodental.rate == 0.0
    assert s.pause_rest.rate == 1.0 and s.lag_curve is None  # a still mouth has no lag
    assert summarize([s], FPS)["clips_flat_jaw"] == 1


def test_late_mouth_shows_a_positive_lag() -> None:
    ph, dur = utterance()
    t = frames(ph, dur)
    late = np.concatenate([np.repeat(t[:1], 2, axis=0), t[:-2]])  # two frames late
    r = summarize([score_clip(late, FPS, spans_from_phonemes(ph, dur), t)], FPS)
    assert r["lag_frames"] == pytest.approx(2.0, abs=0.3)
    assert r["clips_lag_0_to_1_mouth_first"] == 0.0
    early = np.concatenate([t[1:], t[-1:]])
    assert peak_lag(score_clip(early, FPS, [], t).lag_curve) == pytest.approx(-1.0, abs=0.3)  # type: ignore[arg-type]


def test_gap_between_utterances_is_a_pause_at_rest() -> None:
    """targets.mouth_track alone lets the nearest phonemes fill an uncovered gap."""
    ph, dur = utterance()
    spans = spans_from_phonemes(ph, dur)
    gaps = [s for s in spans if s.viseme == SILENCE]
    assert [(round(s.start_s, 2), round(s.end_s, 2)) for s in gaps] == [
        (0.0, 0.5), (1.22, 2.0), (2.45, 3.0),
    ]  # fmt: skip
    jaw = frames(ph, dur)[:, CH["jawOpen"]]
    assert jaw[round(1.4 * FPS) : round(1.8 * FPS)].max() < 0.05


def test_with_pauses_merges_split_pauses() -> None:
    ph = [Phoneme("a", 0.1, 0.2), Phoneme("", 0.2, 0.5), Phoneme("_", 0.5, 0.501),
          Phoneme("m", 0.6, 0.7)]  # fmt: skip
    out = with_pauses(ph, 1.0)
    assert [(p.symbol, p.start_s, p.end_s) for p in out] == [
        ("", 0.0, 0.1), ("a", 0.1, 0.2), ("", 0.2, 0.6), ("m", 0.6, 0.7), ("", 0.7, 1.0),
    ]  # fmt: skip


def test_visemes_round_trip_through_phonemes() -> None:
    track = np.repeat(np.arange(15), 3)
    ph = phonemes_from_visemes(track)
    assert [viseme_of_ipa(p.symbol) for p in ph] == list(range(15))
    assert ph[VISEME["PP"]].start_s == pytest.approx(0.03)


def test_open_fraction_and_jitter() -> None:
    m = np.zeros((4, 55), dtype=np.float32)
    m[:, CH["jawOpen"]] = [0.0, 0.3, 0.0, 0.3]
    assert open_fraction(m) == 0.5
    assert jitter(m) == pytest.approx(0.3)
    assert jitter(m[:1]) == 0.0 and open_fraction(m[:0]) == 0.0
