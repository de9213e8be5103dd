"""MBROLA voices: phonemes on the audio's own timeline (pauses in the phonemes are silent)."""

import numpy as np
import pytest

from lpm_bridge.training.mbrola import (
    EVENT_LEAD_SAMPLES,
    MbrolaRequest,
    mbrola_paths,
    phonemes_from_events,
    synth_isolated,
)

pytestmark = pytest.mark.timeout(60)


def test_events_move_back_by_the_lead_and_stop_with_the_audio() -> None:
    lead = EVENT_LEAD_SAMPLES
    events = [("", lead), ("m", lead + 800), ("a", lead + 1600), ("", lead + 4000)]
    ph = phonemes_from_events(events, 16000, 3200)
    assert [(p.symbol, p.start_s, p.end_s) for p in ph] == [
        ("", 0.0, 0.05), ("m", 0.05, 0.1), ("a", 0.1, 0.2),
    ]  # fmt: skip


def _db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-9))


@pytest.mark.skipif(not mbrola_paths()[0].is_dir(), reason="MBROLA voices not fetched")
@pytest.mark.parametrize("voice", ["mb-de4", "mb-fr4"])
def test_pauses_are_silent_and_sounds_are_loud(voice: str) -> None:
    """Without the lead a pause span starts ~45-60 ms early, on the end of the word before."""
    text = {"mb-de4": "Guten Morgen, mein Bruder. Wo ist die Post?",
            "mb-fr4": "Bonjour, mon ami. Voici le pain."}[voice]  # fmt: skip
    (utt,) = synth_isolated([MbrolaRequest(text, voice)])
    assert utt.sample_rate == (22050 if voice == "mb-fr4" else 16000)
    sr, x = utt.sample_rate, utt.audio
    peak = _db(x)
    pauses = [p for p in utt.phonemes if not p.symbol and p.end_s - p.start_s > 0.1]
    inner = [p for p in pauses if p.end_s < len(x) / sr - 0.05]
    assert inner, utt.phonemes
    for p in inner:  # the whole pause, 15 ms in from each edge, is silent
        seg = x[int((p.start_s + 0.015) * sr) : int((p.end_s - 0.015) * sr)]
        assert _db(seg) < peak - 40, (p, _db(seg), peak)
        before = x[int((p.start_s - 0.04) * sr) : int(p.start_s * sr)]
        assert _db(before) > peak - 30, (p, "the sound before the pause is speech")
