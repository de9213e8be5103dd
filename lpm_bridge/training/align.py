"""Forced alignment of real speech to its transcript: phoneme spans for evaluating the mapper.

Role in the LPM design: the truth behind the mapper's phoneme-level figures on recordings, which
(unlike synthesised speech) come with text but no timing. ``EnglishAligner`` uses pocketsphinx's
US English acoustic model and dictionary: words, then phones in 10 ms frames, returned as
``Phoneme`` spans in IPA (pauses ``""``) on the recording's timeline so the viseme table reads
them. Checked against libespeak-ng's exact phonemes (``tests/training/test_align.py``): boundaries
within ~10 ms (median), no systematic offset. pocketsphinx is a development dependency.

English only: warping a libespeak-ng rendering of the text onto a recording (DTW of cepstra)
placed only 73-79 % of pocketsphinx's /p b m/ within 40 ms on the same English clips, too loose
to score lips against, so other languages' recordings are not aligned here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt
import soxr

from lpm_bridge.audio import FEATURE_RATE
from lpm_bridge.errors import InvalidInputError
from lpm_bridge.training.espeak import Phoneme

if TYPE_CHECKING:
    from pocketsphinx import Decoder

ARPABET_IPA: Final[dict[str, str]] = {
    # AH is schwa as often as wedge and pocketsphinx's dictionary has no stress: read it as the
    # weaker schwa, so 'open vowel' cases are only the unambiguous ones.
    "AA": "ɑ", "AE": "æ", "AH": "ə", "AO": "ɔ", "AW": "aʊ", "AY": "aɪ", "EH": "ɛ", "ER": "ɝ",
    "EY": "eɪ", "IH": "ɪ", "IY": "i", "OW": "oʊ", "OY": "ɔɪ", "UH": "ʊ", "UW": "u",
    "B": "b", "CH": "tʃ", "D": "d", "DH": "ð", "F": "f", "G": "ɡ", "HH": "h", "JH": "dʒ",
    "K": "k", "L": "l", "M": "m", "N": "n", "NG": "ŋ", "P": "p", "R": "ɹ", "S": "s", "SH": "ʃ",
    "T": "t", "TH": "θ", "V": "v", "W": "w", "Y": "j", "Z": "z", "ZH": "ʒ", "SIL": "",
    "AX": "ə", "PAU": "",  # flite's extra symbols
}  # fmt: skip
PS_FRAME_S: Final[float] = 0.01  # pocketsphinx's frame hop
# Frame i's 25.6 ms window starts at i * 10 ms, so a boundary between frames i-1 and i lies near
# i * 10 + 7.8 ms; measured against espeak-ng's exact phonemes: -8 ms median without this shift.
PS_OFFSET_S: Final[float] = 0.008
_ONES: Final[tuple[str, ...]] = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
)  # fmt: skip
_TENS: Final[tuple[str, ...]] = (
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
)  # fmt: skip


class AlignmentError(InvalidInputError):
    """A transcript that cannot be aligned: unknown words, or audio the aligner rejects."""


def number_words(n: int) -> list[str]:
    """English words of 0 <= n < 10000 as read aloud ('one thousand two hundred five')."""
    if not 0 <= n < 10000:
        raise AlignmentError(f"cannot read {n} aloud (0..9999)", field="text")
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + (number_words(n % 10) if n % 10 else [])
    head, rest, unit = (
        (n // 1000, n % 1000, "thousand") if n >= 1000 else (n // 100, n % 100, "hundred")
    )
    return number_words(head) + [unit] + (number_words(rest) if rest else [])


def english_words(text: str) -> list[str]:
    """Lower-case words of a transcript: digits read aloud, hyphens split, punctuation gone."""
    words: list[str] = []
    for token in re.findall(r"[A-Za-z']+|\d+", text.replace("-", " ")):
        words += number_words(int(token)) if token.isdigit() else [token.lower().strip("'")]
    return [w for w in words if w]


class EnglishAligner:
    """pocketsphinx's US English model as a forced aligner (one decoder, reused)."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        # Wide beams and no cap on active HMMs: with the defaults the search loses the path on
        # fast or synthetic speech ('Failed to set up sub-word alignment'); whole-clip cepstral
        # mean normalisation, since each clip is decoded at once.
        self.decoder: Decoder = Decoder(
            samprate=FEATURE_RATE, lm=None, loglevel="FATAL", cmn="batch", bestpath=False,
            beam=1e-120, wbeam=1e-120, pbeam=1e-120, maxhmmpf=-1,
        )  # fmt: skip

    def unknown_words(self, text: str) -> list[str]:
        """Words of ``text`` the dictionary lacks (such a transcript cannot be aligned)."""
        return [w for w in english_words(text) if self.decoder.lookup_word(w) is None]

    def align(
        self, audio: npt.NDArray[np.int16], sample_rate: int, text: str
    ) -> tuple[Phoneme, ...]:
        """Phone spans of ``text`` spoken in ``audio`` (pauses ``""``), on the audio's timeline."""
        unknown = self.unknown_words(text)
        if unknown:
            raise AlignmentError(f"words not in the dictionary: {unknown[:5]}", field="text")
        x = audio.astype(np.float32) / 32768.0
        if sample_rate != FEATURE_RATE:
            x = np.asarray(soxr.resample(x, sample_rate, FEATURE_RATE), dtype=np.float32)
        pcm = (np.clip(x, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        d = self.decoder
        try:
            d.set_align_text(" ".join(english_words(text)))
            self._decode(pcm)
            d.set_alignment()
            self._decode(pcm)
            spans = [(p.name, p.start, p.duration) for w in d.get_alignment() for p in w]
        except RuntimeError as e:  # pocketsphinx: no path through the audio
            raise AlignmentError(
                f"pocketsphinx could not align the audio: {e}", field="audio"
            ) from e
        return tuple(
            Phoneme(
                ARPABET_IPA.get(name, ""),
                max(start * PS_FRAME_S + PS_OFFSET_S, 0.0),
                (start + dur) * PS_FRAME_S + PS_OFFSET_S,
            )
            for name, start, dur in spans
        )

    def _decode(self, pcm: bytes) -> None:
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
