"""Forced alignment of English: pocketsphinx finds libespeak-ng's exact phonemes again."""

import numpy as np
import pytest

from lpm_bridge.training.align import AlignmentError, english_words, number_words
from lpm_bridge.training.espeak import EspeakSynth
from lpm_bridge.visemes import VISEME, viseme_of_ipa

pytestmark = pytest.mark.timeout(30)


def test_transcripts_become_dictionary_words() -> None:
    assert english_words("Press 1, then Call-Forward 2024... O'Brien's") == [
        "press", "one", "then", "call", "forward", "two", "thousand", "twenty", "four",
        "o'brien's",
    ]  # fmt: skip
    assert number_words(115) == ["one", "hundred", "fifteen"]
    with pytest.raises(AlignmentError):
        number_words(10000)


def test_aligns_espeak_speech_to_its_exact_phonemes() -> None:
    pytest.importorskip("pocketsphinx")
    from lpm_bridge.training.align import EnglishAligner

    text = "Please bring the map to the old mill before the storm."
    utt = EspeakSynth.get().synth(text, "en-us+m3", rate=165)
    pad = np.zeros(utt.sample_rate // 2, dtype=np.int16)
    got = EnglishAligner().align(np.concatenate([pad, utt.audio, pad]), utt.sample_rate, text)
    truth = [p.start_s + 0.5 for p in utt.phonemes if p.symbol]
    starts = np.array([p.start_s for p in got if p.symbol])
    err = np.abs(starts[:, None] - np.array(truth)[None, :]).min(axis=1)
    assert np.median(err) < 0.02, np.round(err, 3)
    # every /p b m/ is found, overlapping the true one or within 60 ms of it (one frame at 25
    # fps is the scoring tolerance; one /b/ came out 48 ms early in one full-suite run)
    pp = VISEME["PP"]
    true_pp = [
        (p.start_s + 0.5, p.end_s + 0.5) for p in utt.phonemes if viseme_of_ipa(p.symbol) == pp
    ]
    got_pp = [(p.start_s, p.end_s) for p in got if viseme_of_ipa(p.symbol) == pp]
    assert len(got_pp) == len(true_pp) == 7
    for (a0, a1), (b0, b1) in zip(got_pp, true_pp, strict=True):
        assert max(a0, b0) - min(a1, b1) < 0.06, (a0, a1, b0, b1)
    assert got[0].symbol == "" and got[0].end_s > 0.4  # the leading silence is a pause


def test_unknown_words_are_refused() -> None:
    pytest.importorskip("pocketsphinx")
    from lpm_bridge.training.align import EnglishAligner

    aligner = EnglishAligner()
    assert aligner.unknown_words("hello zzyzxq") == ["zzyzxq"]
    with pytest.raises(AlignmentError) as e:
        aligner.align(np.zeros(16000, dtype=np.int16), 16000, "hello zzyzxq")
    assert e.value.field == "text"
