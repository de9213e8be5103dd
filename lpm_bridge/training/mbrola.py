"""MBROLA diphone voices through libespeak-ng: real recordings, concatenated, with exact phonemes.

Role in the LPM design: speech that sounds like people for the mapper's held-out evaluation.
libespeak-ng translates text and drives the ``mbrola`` binary; its phoneme events carry sample
positions as for its own voices, with two differences measured here (``tests/training/
test_mbrola.py``):

* the audio is at the diphone database's rate (16 or 22.05 kHz, ``espeak_ng_GetSampleRate``
  after the voice is set), not the 22.05 kHz ``espeak_Initialize`` returns;
* every event lies ``EVENT_LEAD_SAMPLES`` after the audio it names (pause edges in the audio
  and the ``.pho`` durations sent to mbrola agree with ``sample - 1000`` to within ~10 ms).

``MbrolaSynth`` is ``EspeakSynth`` on the MBROLA data folder (training reaches the same voices
through ``LPM_ESPEAK_DATA``). libespeak-ng is one global per process, and the caller's
``EspeakSynth.get()`` may already hold it on the system data; ``synth_isolated`` therefore
speaks in a child process.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from lpm_bridge.errors import ConfigError
from lpm_bridge.training.espeak import (
    MBROLA_EVENT_LAG_SAMPLES,
    EspeakSynth,
    Phoneme,
    Utterance,
)

SPEECH_CACHE: Final[Path] = Path.home() / ".cache" / "lpm-dev-speech"
EVENT_LEAD_SAMPLES: Final[int] = MBROLA_EVENT_LAG_SAMPLES  # events trail MBROLA's audio
CHILD_TIMEOUT_S: Final[float] = 600.0  # the whole batch; ~10 ms of work per second of speech


@dataclass(frozen=True)
class MbrolaRequest:
    """One utterance to speak: ``voice`` is an espeak-ng MBROLA voice such as ``"mb-de4"``."""

    text: str
    voice: str
    rate: int = 175  # words per minute


def mbrola_paths(cache: Path = SPEECH_CACHE) -> tuple[Path, Path]:
    """(espeak-ng data directory holding the MBROLA voices, directory of the mbrola binary)."""
    return cache / "espeak", cache / "mbrola" / "bin"


class MbrolaSynth(EspeakSynth):
    """libespeak-ng initialised on a data directory with MBROLA voices. One per process."""

    def __init__(self, data_dir: Path, bin_dir: Path) -> None:
        if not (data_dir / "espeak-ng-data").is_dir() or not (bin_dir / "mbrola").is_file():
            raise ConfigError(
                f"no MBROLA voices at {data_dir} (or no mbrola binary in {bin_dir}); "
                "fetch them with ../shared/datasets/fetch_speech.sh",
                field="mbrola",
            )
        # espeak-ng finds the binary on PATH (it spawns it per voice).
        os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        super().__init__(str(data_dir))

    def speak(self, request: MbrolaRequest) -> Utterance:
        """Speak one request: audio at the voice's own rate, phonemes on the audio's timeline."""
        utt = self.synth(request.text, request.voice, request.rate)
        if len(utt.audio) == 0:  # the voice named a database mbrola could not load
            raise ConfigError(f"MBROLA voice {request.voice!r} produced no audio", field="voice")
        return utt

    def _phonemes(self, n_samples: int, sr: int, lag: int = 0) -> tuple[Phoneme, ...]:
        # The last phoneme ends with the audio (the evaluation scores every frame of it).
        return phonemes_from_events(self._events, sr, n_samples)


def phonemes_from_events(
    events: list[tuple[str, int]], sample_rate: int, n_samples: int
) -> tuple[Phoneme, ...]:
    """Phoneme spans on the audio's timeline from (IPA, event sample) pairs, in order.

    Each phoneme ends where the next begins; the last ends with the audio. Spans past the end
    of the audio (the closing pause, which the callback never delivers) are cut or dropped.
    """
    starts = [(sym.strip(), (s - EVENT_LEAD_SAMPLES) / sample_rate) for sym, s in events]
    end_s = n_samples / sample_rate
    out = []
    for i, (sym, start) in enumerate(starts):
        stop = starts[i + 1][1] if i + 1 < len(starts) else end_s
        start, stop = max(start, 0.0), min(stop, end_s)
        if stop > start:
            out.append(Phoneme(sym, start, stop))
    return tuple(out)


def synth_isolated(requests: list[MbrolaRequest], cache: Path = SPEECH_CACHE) -> list[Utterance]:
    """Speak ``requests`` in a fresh ``python -m lpm_bridge.training.mbrola`` process, so
    libespeak-ng's global state stays apart from this process's ``EspeakSynth`` (and the child
    imports nothing heavy). Raises ``ConfigError`` if the voices are not fetched."""
    with tempfile.TemporaryDirectory(prefix="lpm-mbrola-") as tmp:
        out = Path(tmp) / "utterances.pickle"
        job = {"cache": str(cache), "out": str(out), "requests": [asdict(r) for r in requests]}
        proc = subprocess.run(
            [sys.executable, "-m", "lpm_bridge.training.mbrola"],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_S,
        )
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines() or ["(no output)"]
            raise ConfigError(f"MBROLA synthesis failed: {lines[-1]}", field="mbrola")
        utterances: list[Utterance] = pickle.loads(out.read_bytes())  # our own child's file
        return utterances


def main() -> int:
    """Child side of ``synth_isolated``: a JSON job on stdin, pickled utterances to its path."""
    job = json.loads(sys.stdin.read())
    synth = MbrolaSynth(*mbrola_paths(Path(job["cache"])))
    utterances = [synth.speak(MbrolaRequest(**r)) for r in job["requests"]]
    Path(job["out"]).write_bytes(pickle.dumps(utterances))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
