"""Corpus synthesis and targets: a tiny corpus made on the fly with libespeak-ng."""

from pathlib import Path

import numpy as np
import pytest

from lpm_bridge.motion import CH, validate_motion
from lpm_bridge.training.corpus import (
    HELDOUT_LANGS,
    HELDOUT_RATES,
    HELDOUT_VARIANTS,
    TRAIN_LANGS,
    TRAIN_RATES,
    TRAIN_VARIANTS,
    build_corpus,
    clip_specs,
    make_clip,
)
from lpm_bridge.training.espeak import EspeakSynth
from lpm_bridge.training.evaluate import count_blinks
from lpm_bridge.training.targets import TARGET_FPS, blink_track, motion_targets
from lpm_bridge.visemes import SILENCE, VOWELS


def test_phoneme_events_are_timed() -> None:
    utt = EspeakSynth.get().synth("Hello, world.", "en-us", 175)
    assert utt.sample_rate == 22050
    assert len(utt.phonemes) >= 8
    starts = [p.start_s for p in utt.phonemes]
    assert starts == sorted(starts)
    assert utt.phonemes[-1].end_s <= len(utt.audio) / utt.sample_rate + 1e-6
    # speech energy lives where the phonemes say
    x = utt.audio.astype(np.float32)
    first = int(utt.phonemes[0].start_s * utt.sample_rate)
    assert np.abs(x[:first]).mean() < 0.2 * np.abs(x[first:]).mean() + 1


def test_heldout_is_disjoint() -> None:
    assert not set(HELDOUT_LANGS) & set(TRAIN_LANGS)
    assert not set(HELDOUT_VARIANTS) & set(TRAIN_VARIANTS)
    assert all(hi < HELDOUT_RATES[0] or lo > HELDOUT_RATES[1] for lo, hi in TRAIN_RATES)


def test_clip_is_deterministic_and_consistent() -> None:
    spec = clip_specs(1, 1, seed=5)
    a, b = make_clip(spec[0]), make_clip(spec[0])
    # libespeak-ng may differ by a few samples between calls in one process; all else is seeded
    assert a.meta == b.meta and abs(len(a.audio) - len(b.audio)) < 0.01 * len(a.audio)
    for clip in (a, make_clip(spec[1])):
        assert len(clip.mel) == len(clip.motion) == len(clip.visemes)
        assert abs(len(clip.mel) - len(clip.audio) / clip.sample_rate * TARGET_FPS) <= 1
        validate_motion(clip.motion)


def test_targets_open_on_vowels_closed_in_silence() -> None:
    utt = EspeakSynth.get().synth(
        "Good morning, my friend. Shall we go to the market?", "en-us+m3", 160
    )
    n = int(len(utt.audio) / utt.sample_rate * TARGET_FPS) + 50
    motion, vis = motion_targets(utt.phonemes, n, np.random.default_rng(0))
    jaw = motion[:, CH["jawOpen"]]
    assert (jaw[np.isin(vis, list(VOWELS))] > 0.15).mean() > 0.9
    assert (jaw[vis == SILENCE] < 0.15).mean() > 0.95
    assert jaw[-20:].max() < 0.01


def test_blink_rate_is_human() -> None:
    rng = np.random.default_rng(0)
    minutes = 10
    rates = [count_blinks(blink_track(60 * TARGET_FPS, rng)) for _ in range(minutes)]
    assert 8 <= np.mean(rates) <= 25


@pytest.mark.slow
def test_build_tiny_corpus(tmp_path: Path) -> None:
    build_corpus(tmp_path, n_train=3, n_heldout=2, seed=1, workers=1)
    train = np.load(tmp_path / "train.npz")
    held = np.load(tmp_path / "heldout.npz")
    assert train["offsets"][-1] == len(train["mel"]) == len(train["motion"])
    assert "audio_0" in held and "audio_0" not in train


def test_mbrola_voices_need_the_data_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    from lpm_bridge.training import corpus

    monkeypatch.delenv("LPM_ESPEAK_DATA", raising=False)
    corpus.mbrola_voices.cache_clear()
    assert corpus.mbrola_voices(False) == () and corpus.mbrola_voices(True) == ()
    corpus.mbrola_voices.cache_clear()


def test_silent_phonemes_are_detected() -> None:
    from lpm_bridge.training.corpus import _silent_share
    from lpm_bridge.training.espeak import Utterance

    utt = EspeakSynth.get().synth("Hello there, my friend.", "en-us", 175)
    assert _silent_share(utt) <= 0.1
    # a voice that drops diphones leaves their phonemes silent: zero out the second half
    audio = utt.audio.copy()
    audio[len(audio) // 2 :] = 0
    assert _silent_share(Utterance(audio, utt.sample_rate, utt.phonemes)) > 0.3


def test_mouth_leads_the_sound() -> None:
    from lpm_bridge.training.espeak import Phoneme
    from lpm_bridge.training.targets import MOUTH_LEAD_S

    rng = np.random.default_rng(0)
    phon = [Phoneme("", 0.0, 0.5), Phoneme("a", 0.5, 0.8), Phoneme("", 0.8, 1.5)]
    motion, _ = motion_targets(phon, 150, rng)
    jaw = motion[:, CH["jawOpen"]]
    onset = int(np.argmax(jaw > 0.5 * jaw.max()))
    assert onset <= round((0.5 - MOUTH_LEAD_S) * TARGET_FPS) + 3


def test_gaps_between_utterances_are_pauses() -> None:
    from lpm_bridge.training.espeak import Phoneme

    rng = np.random.default_rng(0)
    # two words with 0.8 s between them that no phoneme covers
    phon = [Phoneme("a", 0.2, 0.5), Phoneme("a", 1.3, 1.6)]
    motion, visemes = motion_targets(phon, 200, rng)
    gap = slice(int(0.7 * TARGET_FPS), int(1.1 * TARGET_FPS))
    assert motion[gap, CH["jawOpen"]].max() < 0.05
    assert (visemes[gap] == SILENCE).all()
