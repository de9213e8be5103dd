"""libespeak-ng through ctypes: synthesised speech with the exact time of every phoneme.

Role in the LPM design: ground truth for the mapper's lips. ``espeak_Initialize`` with
``espeakINITIALIZE_PHONEME_EVENTS | espeakINITIALIZE_PHONEME_IPA`` makes the synth callback report
each phoneme (as IPA) with its position in the audio, so targets are aligned to the sample, not
estimated. libespeak-ng keeps global state: one ``EspeakSynth`` per process.

MBROLA diphone voices (concatenated real recordings, ``mb-*``) speak through the same library
and report phonemes the same way, when it is initialised with a data folder that holds them
(``LPM_ESPEAK_DATA``, e.g. what ``../shared/datasets/fetch_speech.sh`` puts in
``~/.cache/lpm-dev-speech/espeak``) and the ``mbrola`` binary is on ``PATH``. Their output rate
is the diphone database's (16 kHz), not the formant synthesiser's, so the rate is read per voice.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from lpm_bridge.errors import ConfigError

AUDIO_OUTPUT_SYNCHRONOUS: Final[int] = 2
INIT_PHONEME_EVENTS: Final[int] = 0x0001
INIT_PHONEME_IPA: Final[int] = 0x0002
EVENT_LIST_TERMINATED: Final[int] = 0
EVENT_PHONEME: Final[int] = 7
PARAM_RATE: Final[int] = 1
PARAM_PITCH: Final[int] = 3
PARAM_RANGE: Final[int] = 4
CHARS_UTF8: Final[int] = 1
LIBRARY_NAMES: Final[tuple[str, ...]] = ("libespeak-ng.so.1", "libespeak-ng.so")
LAST_PHONEME_S: Final[float] = 0.12  # the last phoneme has no successor to end it
ESPEAK_DATA_ENV: Final[str] = "LPM_ESPEAK_DATA"
# An MBROLA voice's phoneme events lie this many samples (of its own rate) after the audio they
# name: pause edges in the audio and the durations sent to mbrola agree with ``sample - 1000``
# within ~10 ms. Uncorrected, targets trail the sound by 45-62 ms and teach a trailing mouth.
MBROLA_EVENT_LAG_SAMPLES: Final[int] = 1000


class _Event(ctypes.Structure):
    """espeak_EVENT from speak_lib.h (the id union read as its 8-byte string member)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class Phoneme:
    """One phoneme: IPA symbol ('' for a pause) and its span in seconds."""

    symbol: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Utterance:
    """Synthesised speech: ``audio`` (N,) int16 at ``sample_rate``, and its phonemes in order."""

    audio: npt.NDArray[np.int16]
    sample_rate: int
    phonemes: tuple[Phoneme, ...]


class EspeakSynth:
    """A loaded libespeak-ng with phoneme events on. Not thread-safe (libespeak-ng is global)."""

    _instance: EspeakSynth | None = None

    def __init__(self, data_path: str | None = None) -> None:
        self.lib = self._load()
        self.data_path = data_path
        self.lib.espeak_Initialize.argtypes = [
            ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
        ]  # fmt: skip
        self.sample_rate = int(
            self.lib.espeak_Initialize(
                AUDIO_OUTPUT_SYNCHRONOUS,
                0,
                data_path.encode() if data_path else None,
                INIT_PHONEME_EVENTS | INIT_PHONEME_IPA,
            )
        )
        if self.sample_rate <= 0:
            raise ConfigError("libespeak-ng failed to initialise", field="espeak")
        self._chunks: list[bytes] = []
        self._events: list[tuple[str, int]] = []
        self._cb = _Callback(self._on_audio)  # keep a reference: C holds the pointer
        self.lib.espeak_SetSynthCallback(self._cb)
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip

    @classmethod
    def get(cls) -> EspeakSynth:
        """The process-wide instance (libespeak-ng can be initialised once), on the data folder
        named by ``LPM_ESPEAK_DATA`` if set (MBROLA voices), else the system's."""
        if cls._instance is None:
            cls._instance = cls(os.environ.get(ESPEAK_DATA_ENV) or None)
        return cls._instance

    @staticmethod
    def _load() -> ctypes.CDLL:
        names = [*LIBRARY_NAMES, ctypes.util.find_library("espeak-ng") or ""]
        for name in filter(None, names):
            try:
                return ctypes.CDLL(name)
            except OSError:
                continue
        raise ConfigError(
            "libespeak-ng not found; install it (Debian: apt-get install libespeak-ng1 espeak-ng)",
            field="espeak",
        )

    def _on_audio(
        self, wav: ctypes.Array[ctypes.c_short], n: int, events: ctypes.Array[_Event]
    ) -> int:
        if n > 0:
            self._chunks.append(ctypes.string_at(wav, n * 2))
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == EVENT_PHONEME:
                self._events.append((ev.id.decode("utf-8", "replace"), ev.sample))
            i += 1
        return 0

    def synth(
        self, text: str, voice: str, rate: int = 175, pitch: int = 50, pitch_range: int = 50
    ) -> Utterance:
        """Speak ``text`` with ``voice`` (e.g. ``"en-us+f3"``); rate in words/min, pitch 0..100."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ConfigError(f"espeak-ng has no voice {voice!r}", field="voice")
        for param, value in ((PARAM_RATE, rate), (PARAM_PITCH, pitch), (PARAM_RANGE, pitch_range)):
            self.lib.espeak_SetParameter(param, int(value), 0)
        self._chunks, self._events = [], []
        data = text.encode("utf-8")
        self.lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()
        audio = np.frombuffer(b"".join(self._chunks), dtype=np.int16).copy()
        sr = self.voice_rate()
        lag = MBROLA_EVENT_LAG_SAMPLES if voice.startswith("mb-") else 0
        return Utterance(audio, sr, self._phonemes(len(audio), sr, lag))

    def voice_rate(self) -> int:
        """Output rate of the current voice: an MBROLA voice speaks at its database's rate."""
        get = getattr(self.lib, "espeak_ng_GetSampleRate", None)
        return int(get()) if get is not None else self.sample_rate

    def _phonemes(self, n_samples: int, sr: int, lag: int = 0) -> tuple[Phoneme, ...]:
        self._events = [(sym, max(0, sample - lag)) for sym, sample in self._events]
        out = []
        end_s = n_samples / sr
        for i, (sym, sample) in enumerate(self._events):
            start = sample / sr
            stop = (
                self._events[i + 1][1] / sr
                if i + 1 < len(self._events)
                else min(end_s, start + LAST_PHONEME_S)
            )
            if stop > start:
                out.append(Phoneme(sym.strip(), start, min(stop, end_s)))
        return tuple(out)
