"""Synthesise the mapper's speech corpus: many voices, languages and rates, augmented.

Role in the LPM design: the training data. Every clip is spoken by libespeak-ng (a language, a
voice variant, a rate, a pitch and pitch range), padded with silence, possibly reverberated,
resampled to a random input rate (8 to 48 kHz, which band-limits), scaled (sometimes into
clipping), mixed with noise, quantised to int16, and turned into exactly the features the
run-time stream computes. Targets come from the phoneme events (``targets``).

The held-out split uses voice variants, languages and speaking rates never used in training.
Usage: ``python -m lpm_bridge.training.corpus --out runs/motion_corpus``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import soxr
from scipy.signal import butter, fftconvolve, sosfilt

from lpm_bridge.audio import log_mel_offline
from lpm_bridge.errors import ConfigError
from lpm_bridge.training.espeak import ESPEAK_DATA_ENV, EspeakSynth, Phoneme, Utterance
from lpm_bridge.training.targets import motion_targets

TRAIN_LANGS: Final[tuple[str, ...]] = (
    "en-US", "en", "de", "fr", "es", "pt-BR", "nl", "cs", "sv", "fi", "hu", "id", "ro", "hr",
    "da", "eo", "ca", "cy", "sk", "af", "et", "vi",
)  # fmt: skip
HELDOUT_LANGS: Final[tuple[str, ...]] = ("it", "pl", "sw", "tr", "lv")
TRAIN_VARIANTS: Final[tuple[str, ...]] = (
    "", "m1", "m2", "m3", "m5", "m6", "m7", "f1", "f2", "f3", "f5", "klatt", "klatt2",
    "klatt5", "croak", "Andy", "Annie", "max", "steph",
)  # fmt: skip
HELDOUT_VARIANTS: Final[tuple[str, ...]] = ("f4", "m4", "klatt3", "edward", "belinda")
TRAIN_RATES: Final[tuple[tuple[int, int], ...]] = ((110, 160), (200, 260))  # words/min
HELDOUT_RATES: Final[tuple[int, int]] = (170, 190)  # a band no training clip uses
INPUT_RATES: Final[tuple[int, ...]] = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)
SILENT_CLIP_SHARE: Final[float] = 0.06  # no speech: silence, or music (MUSIC_ONLY_SHARE of them)
MUSIC_ONLY_SHARE: Final[float] = 0.5
MUSIC_BED_SHARE: Final[float] = 0.15  # speech over music, 6-20 dB below the voice
# Clips spoken by an MBROLA diphone voice (real recordings, concatenated) when the data folder
# has them: they carry the acoustics of human speech that formant voices lack.
MBROLA_SHARE: Final[float] = 0.5
# Diphone databases kept out of training, for the held-out evaluation (bench/voice_eval.py);
# the fetch script also leaves out the English voices, de6 and fr1 altogether.
MAX_SILENT_PHONEMES: Final[float] = 0.10
MBROLA_NAME: Final[re.Pattern[str]] = re.compile(r"mb-[a-z]{2}\d")
HELDOUT_MBROLA: Final[frozenset[str]] = frozenset({"de4", "es3", "nl2", "it4", "fr4"})

_ONSETS: Final[tuple[str, ...]] = (
    "", "", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w",
    "z", "br", "tr", "st", "pl", "kr", "ch", "sh", "th", "gr", "fl", "sp", "dr", "qu",
)  # fmt: skip
_NUCLEI: Final[tuple[str, ...]] = (
    "a", "e", "i", "o", "u", "a", "e", "o", "ai", "ou", "ie", "ea", "au", "y", "oo", "ei",
)  # fmt: skip
_CODAS: Final[tuple[str, ...]] = ("", "", "", "n", "s", "r", "l", "m", "t", "k", "nd", "st", "ng")
_ENGLISH: Final[tuple[str, ...]] = tuple(
    [
        "the",
        "be",
        "to",
        "of",
        "and",
        "a",
        "in",
        "that",
        "have",
        "I",
        "it",
        "for",
        "not",
        "on",
        "with",
        "he",
        "as",
        "you",
        "do",
        "at",
        "this",
        "but",
        "his",
        "by",
        "from",
        "they",
        "we",
        "say",
        "her",
        "she",
        "or",
        "an",
        "will",
        "my",
        "one",
        "all",
        "would",
        "there",
        "their",
        "what",
        "so",
        "up",
        "out",
        "if",
        "about",
        "who",
        "get",
        "which",
        "go",
        "me",
        "when",
        "make",
        "can",
        "like",
        "time",
        "no",
        "just",
        "him",
        "know",
        "take",
        "people",
        "into",
        "year",
        "your",
        "good",
        "some",
        "could",
        "them",
        "see",
        "other",
        "than",
        "then",
        "now",
        "look",
        "only",
        "come",
        "its",
        "over",
        "think",
        "also",
        "back",
        "after",
        "use",
        "two",
        "how",
        "our",
        "work",
        "first",
        "well",
        "way",
        "even",
        "new",
        "want",
        "because",
        "any",
        "these",
        "give",
        "day",
        "most",
        "us",
        "blue",
        "quick",
        "brown",
        "fox",
        "jumps",
        "lazy",
        "dog",
        "hello",
        "world",
        "morning",
        "evening",
        "water",
        "fire",
        "stone",
        "sword",
        "quest",
        "dragon",
        "village",
        "castle",
        "forest",
        "river",
        "mountain",
        "music",
        "happy",
        "maybe",
        "really",
        "never",
        "always",
        "thank",
        "please",
    ]
)


@dataclass(frozen=True)
class ClipSpec:
    """How to make one clip: all randomness is derived from ``seed``."""

    index: int
    seed: int
    heldout: bool


@dataclass
class Clip:
    """One clip: ``audio`` at ``sample_rate``, features (T, 40), targets (T, 55), visemes (T,)."""

    audio: npt.NDArray[np.int16]
    sample_rate: int
    mel: npt.NDArray[np.float32]
    motion: npt.NDArray[np.float32]
    visemes: npt.NDArray[np.int64]
    meta: dict[str, object]


def random_text(rng: np.random.Generator, lang: str) -> str:
    """Pseudo-words, numbers (read as real words in every language) and, for English, words."""
    phrases = []
    for _ in range(int(rng.integers(1, 4))):
        words = []
        for _ in range(int(rng.integers(2, 7))):
            r = rng.random()
            if r < 0.12:
                words.append(str(int(rng.integers(1, 2000))))
            elif r < 0.5 and lang.startswith("en"):
                words.append(str(rng.choice(_ENGLISH)))
            else:
                n_syll = int(rng.integers(1, 4))
                words.append("".join(
                    str(rng.choice(_ONSETS)) + str(rng.choice(_NUCLEI)) + str(rng.choice(_CODAS))
                    for _ in range(n_syll)
                ))  # fmt: skip
        phrases.append(" ".join(words))
    return "".join(p + str(rng.choice([", ", ". ", "? ", "! "])) for p in phrases).strip()


def _voice(rng: np.random.Generator, heldout: bool) -> tuple[str, str, int]:
    """(language, espeak voice name, words/min): an MBROLA voice for ``MBROLA_SHARE`` of the
    clips when the data folder has them, else a formant voice."""
    mbrola = mbrola_voices(heldout)
    if mbrola and rng.random() < MBROLA_SHARE:
        name, lang = mbrola[int(rng.integers(len(mbrola)))]
        return lang, name, _rate(rng, heldout)
    return _formant_voice(rng, heldout)


def _rate(rng: np.random.Generator, heldout: bool) -> int:
    band = HELDOUT_RATES if heldout else TRAIN_RATES[int(rng.integers(len(TRAIN_RATES)))]
    return int(rng.integers(band[0], band[1] + 1))


def _formant_voice(rng: np.random.Generator, heldout: bool) -> tuple[str, str, int]:
    langs, variants = (
        (HELDOUT_LANGS, HELDOUT_VARIANTS) if heldout else (TRAIN_LANGS, TRAIN_VARIANTS)
    )
    lang, variant = str(rng.choice(langs)), str(rng.choice(variants))
    return lang, f"{lang}+{variant}" if variant else lang, _rate(rng, heldout)


@functools.cache
def mbrola_voices(heldout: bool) -> tuple[tuple[str, str], ...]:
    """(espeak voice name, language) of the MBROLA voices in ``LPM_ESPEAK_DATA`` whose diphone
    database is there: the held-out ones (``HELDOUT_MBROLA``) or all the others. Empty without
    the data folder, so the corpus is espeak-ng's own voices only."""
    root = os.environ.get(ESPEAK_DATA_ENV)
    if not root:
        return ()
    data = Path(root) / "espeak-ng-data"
    found = []
    for path in sorted((data / "voices" / "mb").glob("mb-*")):
        if not MBROLA_NAME.fullmatch(path.name):
            continue  # "mb-de4-en" etc. read English through a foreign diphone set: gaps
        fields = dict(
            line.split(None, 1) for line in path.read_text(errors="replace").splitlines()
            if len(line.split(None, 1)) == 2
        )  # fmt: skip
        db = fields.get("mbrola", "").split()[:1]
        lang = fields.get("language", "").split()[:1]
        if not db or not lang or not (data / "mbrola" / db[0]).is_file():
            continue
        if (db[0] in HELDOUT_MBROLA) == heldout:
            found.append((path.name, lang[0]))
    return tuple(found)


def _reverb(
    x: npt.NDArray[np.float64], sr: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """A synthetic room: exponentially decaying noise impulse response, mixed wet/dry."""
    rt60 = rng.uniform(0.15, 0.6)
    n = int(rt60 * sr)
    ir = rng.normal(0, 1, n) * np.exp(-6.9 * np.arange(n) / n)
    wet = fftconvolve(x, ir / np.sqrt((ir**2).sum()))[: len(x)]
    mix = rng.uniform(0.1, 0.4)
    return np.asarray((1 - mix) * x + mix * wet)


def _noise(n: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """White, pink-ish or brown-ish noise of unit RMS."""
    white = rng.normal(0, 1, n)
    kind = rng.integers(3)
    if kind == 1:
        white = sosfilt(butter(1, 0.05, output="sos"), white) + 0.3 * white
    elif kind == 2:
        white = np.cumsum(white)
        white -= sosfilt(butter(1, 0.001, output="sos"), white)
    return np.asarray(white / (np.sqrt((white**2).mean()) + 1e-12))


def music_bed(n: int, sr: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """``n`` samples of synthetic instrumental music at unit RMS: chords of harmonic tones with
    attack/decay envelopes on a random tempo, and drum hits (decaying noise bursts). Why: games
    play music under and between lines, and a mouth that opens to a melody is a bug."""
    t = np.arange(n) / sr
    beat = 60.0 / rng.uniform(70, 160)
    out = np.zeros(n)
    root = 110.0 * 2 ** (rng.integers(0, 24) / 12)
    for start in np.arange(0.0, n / sr, beat * int(rng.integers(1, 5))):
        chord = root * 2 ** (np.array([0, rng.choice([3, 4]), 7, rng.choice([10, 11, 12])]) / 12)
        chord *= 2 ** (int(rng.choice([0, 2, 5, 7, -5])) / 12)
        span = (t >= start) & (t < start + beat * 4)
        env = np.exp(-(t[span] - start) / rng.uniform(0.2, 1.5)) * np.minimum(
            1.0, (t[span] - start) / 0.01
        )
        for f in chord:
            for h in range(1, int(rng.integers(2, 7))):
                if f * h < sr / 2:
                    out[span] += env * np.sin(2 * np.pi * f * h * t[span]) / h
    for start in np.arange(0.0, n / sr, beat):
        if rng.random() < 0.7:
            i = int(start * sr)
            hit = rng.normal(0, 1, min(int(0.15 * sr), n - i))
            out[i : i + len(hit)] += 2 * hit * np.exp(-np.arange(len(hit)) / (0.03 * sr))
    return np.asarray(out / (np.sqrt((out**2).mean()) + 1e-12))


def augment(
    speech: npt.NDArray[np.float64], sr: int, rng: np.random.Generator, *, mild: bool
) -> tuple[npt.NDArray[np.int16], int]:
    """Reverb, music bed, input rate (band limit), telephone band, gain (with clipping), noise
    -> int16."""
    x = speech
    if not mild and rng.random() < MUSIC_BED_SHARE:
        voiced = np.abs(x) > 0.01 * (np.abs(x).max() + 1e-12)
        rms = np.sqrt((x[voiced] ** 2).mean()) if voiced.any() else 0.1
        x = x + music_bed(len(x), sr, rng) * rms * 10 ** (-rng.uniform(6, 20) / 20)
    if rng.random() < (0.15 if mild else 0.3):
        x = _reverb(x, sr, rng)
    out_sr = int(rng.choice(INPUT_RATES))
    x = np.asarray(soxr.resample(x, sr, out_sr), dtype=np.float64)
    if rng.random() < 0.1:
        x = sosfilt(
            butter(4, [300, min(3400, out_sr / 2 - 100)], "bandpass", fs=out_sr, output="sos"), x
        )
    peak = np.abs(x).max() + 1e-9
    gain_db = rng.uniform(-20, 0) if mild else rng.uniform(-24, 6)
    x = x / peak * 10 ** (gain_db / 20)
    if rng.random() < (0.3 if mild else 0.6):
        voiced = np.abs(x) > 0.01 * np.abs(x).max()
        rms = np.sqrt((x[voiced] ** 2).mean()) if voiced.any() else 0.05
        snr_db = rng.uniform(20, 40) if mild else rng.uniform(10, 40)
        x = x + _noise(len(x), rng) * rms * 10 ** (-snr_db / 20)
    return (np.clip(x, -1, 1) * 32767).astype(np.int16), out_sr


def _speak(
    synth: EspeakSynth, rng: np.random.Generator, lang: str, voice: str, rate: int, count: int
) -> list[Utterance] | None:
    """``count`` utterances of random text; None if a voice fails or leaves phonemes silent."""
    utts = []
    for _ in range(count):
        text = random_text(rng, lang)
        pitch, span = int(rng.integers(20, 81)), int(rng.integers(20, 91))
        try:
            utt = synth.synth(text, voice, rate, pitch, span)
        except ConfigError:
            return None
        if voice.startswith("mb-") and _silent_share(utt) > MAX_SILENT_PHONEMES:
            return None
        utts.append(utt)
    return utts


def _silent_share(utt: Utterance) -> float:
    """Share of spoken phonemes whose audio is near silence: an MBROLA voice that lacks a
    diphone replaces it with silence, which would teach lips moving to nothing."""
    x = utt.audio.astype(np.float64)
    if not len(x):
        return 1.0
    rms = []
    for p in utt.phonemes:
        if p.symbol and p.symbol != "_":
            seg = x[int(p.start_s * utt.sample_rate) : int(p.end_s * utt.sample_rate)]
            rms.append(float(np.sqrt((seg**2).mean())) if len(seg) else 0.0)
    if not rms:
        return 1.0
    return float(np.mean(np.array(rms) < 0.02 * max(rms)))


def make_clip(spec: ClipSpec) -> Clip:
    """Synthesise, augment and label one clip (deterministic in ``spec``)."""
    rng = np.random.default_rng(spec.seed)
    synth = EspeakSynth.get()
    lang, voice, rate = _voice(rng, spec.heldout)
    silent = not spec.heldout and rng.random() < SILENT_CLIP_SHARE
    utts = _speak(synth, rng, lang, voice, rate, 1 if silent else int(rng.integers(1, 3)))
    if utts is None:  # an MBROLA voice lacked diphones for this text: a formant voice says it
        lang, voice, rate = _formant_voice(rng, spec.heldout)
        utts = _speak(synth, rng, lang, voice, rate, 1 if silent else int(rng.integers(1, 3)))
        assert utts is not None
    sr = utts[0].sample_rate
    pieces, phonemes, t0 = [], [], 0.0
    for utt in utts:
        gap = np.zeros(int(rng.uniform(0.2, 1.5) * sr))
        pieces.append(gap)
        t0 += len(gap) / sr
        pieces.append(utt.audio.astype(np.float64) / 32768.0)
        phonemes += [Phoneme(p.symbol, p.start_s + t0, p.end_s + t0) for p in utt.phonemes]
        t0 += len(utt.audio) / sr
    pieces.append(np.zeros(int(rng.uniform(0.3, 1.5) * sr)))
    speech = np.concatenate(pieces)
    if silent:
        speech[:] = 0.0
        phonemes = []
        if rng.random() < MUSIC_ONLY_SHARE:
            speech = 0.2 * music_bed(len(speech), sr, rng)
    audio, out_sr = augment(speech, sr, rng, mild=spec.heldout)
    mel = log_mel_offline(audio.astype(np.float32) / 32768.0, out_sr)
    motion, visemes = motion_targets(phonemes, len(mel), rng)
    meta: dict[str, object] = {
        "voice": voice,
        "rate": rate,
        "sample_rate": out_sr,
        "silent": silent,
    }
    return Clip(audio, out_sr, mel, motion, visemes, meta)


def clip_specs(n_train: int, n_heldout: int, seed: int) -> list[ClipSpec]:
    """Train then held-out specs with independent per-clip seeds."""
    ss = np.random.SeedSequence(seed)
    seeds = [int(s.generate_state(1)[0]) for s in ss.spawn(n_train + n_heldout)]
    return [ClipSpec(i, seeds[i], i >= n_train) for i in range(n_train + n_heldout)]


def _iter_clips(specs: list[ClipSpec], workers: int) -> Iterator[Clip]:
    if workers <= 1:
        yield from map(make_clip, specs)
        return
    with Pool(workers) as pool:
        yield from pool.imap(make_clip, specs, chunksize=8)


def save_split(clips: list[Clip], path: Path) -> None:
    """One .npz per split: concatenated features/targets/visemes with clip offsets, and audio."""
    offsets = np.cumsum([0] + [len(c.mel) for c in clips])
    arrays: dict[str, npt.NDArray[np.generic]] = {
        "mel": np.concatenate([c.mel for c in clips]).astype(np.float16),
        "motion": np.concatenate([c.motion for c in clips]).astype(np.float16),
        "visemes": np.concatenate([c.visemes for c in clips]).astype(np.int8),
        "offsets": offsets.astype(np.int64),
        "sample_rates": np.array([c.sample_rate for c in clips], dtype=np.int64),
    }
    if clips and clips[0].meta.get("keep_audio"):
        for i, c in enumerate(clips):
            arrays[f"audio_{i}"] = c.audio
    np.savez(path, **arrays)  # type: ignore[arg-type]
    path.with_suffix(".json").write_text(json.dumps([c.meta for c in clips], indent=1))


def build_corpus(out: Path, n_train: int, n_heldout: int, seed: int = 0, workers: int = 2) -> None:
    """Synthesise both splits into ``out/train.npz`` and ``out/heldout.npz`` (+ .json meta)."""
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    train: list[Clip] = []
    heldout: list[Clip] = []
    for clip in _iter_clips(clip_specs(n_train, n_heldout, seed), workers):
        if len(train) < n_train:
            train.append(clip)
        else:
            clip.meta["keep_audio"] = True
            heldout.append(clip)
    save_split(train, out / "train.npz")
    save_split(heldout, out / "heldout.npz")
    secs = sum(len(c.mel) for c in train) / 100
    print(json.dumps({"train_clips": n_train, "heldout_clips": n_heldout, "train_audio_s": secs,
                      "build_s": round(time.time() - start, 1)}))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--out", type=Path, default=Path("runs/motion_corpus"))
    p.add_argument("--train-clips", type=int, default=1600)
    p.add_argument("--heldout-clips", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args(argv)
    build_corpus(a.out, a.train_clips, a.heldout_clips, a.seed, a.workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
