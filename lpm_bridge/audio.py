"""Audio front end of the audio performance mapper: PCM in, log-mel features out, incrementally.

Role in the LPM design: the mapper hears the voice only through these features. Audio of any
rate from 8 to 48 kHz is resampled to 16 kHz (soxr, streaming) and turned into 40-band log-mel
frames with ``transformers.audio_utils`` (no torchaudio), 100 frames a second. The stream is
processed incrementally: each push computes only the mel frames its new samples complete, so a
stream of any length never recomputes the past and holds only a bounded tail of samples.

Timeline convention: mel frame ``i`` is centred on audio time ``i * 10 ms`` of the stream. To get
that, the stream starts with half an analysis window (12.5 ms) of implicit silence, so frame ``i``
covers real audio ``[10 i - 12.5, 10 i + 12.5)`` ms and is complete once audio through
``10 i + 12.5`` ms has been pushed (plus the resampler's small delay, about 10 ms).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import soxr
from transformers.audio_utils import mel_filter_bank, spectrogram, window_function

from lpm_bridge.errors import AudioError, NotFoundError

FEATURE_RATE: Final[int] = 16_000  # Hz; every feature is computed at this rate
HOP: Final[int] = 160  # samples at 16 kHz = 10 ms: one mel frame per 10 ms
WINDOW: Final[int] = 400  # samples at 16 kHz = 25 ms analysis window
HALF_WINDOW: Final[int] = (
    WINDOW // 2
)  # implicit silence at stream start, centres frame i on 10 i ms
N_FFT: Final[int] = 512
N_MELS: Final[int] = 40
MEL_FPS: Final[int] = FEATURE_RATE // HOP  # 100 mel frames per second
MEL_MS: Final[int] = 1000 // MEL_FPS  # 10 ms per mel frame
MIN_RATE: Final[int] = 8_000
MAX_RATE: Final[int] = 48_000
# log10 mel power is floored here (digital silence) and mapped to about [-2, 3] so the network
# sees unit-scale inputs; silence has exactly SILENCE_VALUE in every band.
LOG_FLOOR: Final[float] = -8.0
FEATURE_OFFSET: Final[float] = 4.0
FEATURE_SCALE: Final[float] = 2.0
SILENCE_VALUE: Final[float] = (LOG_FLOOR + FEATURE_OFFSET) / FEATURE_SCALE
# soxr "LQ" keeps the resampler's look-ahead near 10 ms; speech features need no more.
RESAMPLE_QUALITY: Final[str] = "LQ"

FloatArray = npt.NDArray[np.float32]


def check_sample_rate(sample_rate: int, *, field: str = "sample_rate") -> int:
    """Return ``sample_rate`` if it is a whole number of Hz in 8..48 kHz, else raise AudioError."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer):
        raise AudioError(
            f"{field} must be an integer number of Hz, got {sample_rate!r}", field=field
        )
    if not MIN_RATE <= int(sample_rate) <= MAX_RATE:
        raise AudioError(
            f"{field} must be in {MIN_RATE}..{MAX_RATE} Hz, got {sample_rate}", field=field
        )
    return int(sample_rate)


def decode_pcm16(data: bytes, *, channels: int = 1, field: str = "audio") -> FloatArray:
    """Decode little-endian PCM16 bytes declared as mono into float32 in [-1, 1]. Returns ``(N,)``.

    Odd byte counts and ``channels != 1`` are AudioErrors (the mapper hears one voice).
    """
    if channels != 1:
        raise AudioError(f"{field} must be mono (1 channel), got {channels} channels", field=field)
    if len(data) % 2:
        raise AudioError(
            f"{field} has an odd byte count ({len(data)}); PCM16 needs 2 bytes per sample",
            field=field,
        )
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def to_float_mono(pcm: npt.ArrayLike, *, field: str = "audio") -> FloatArray:
    """Accept a 1-D int16 array or a float array in [-1, 1]; return ``(N,) float32``.

    Float input is clipped to [-1, 1] (clipped audio is valid); NaN or inf is an AudioError; a
    2-D array is an AudioError (stereo where mono is declared), except ``(N, 1)``.
    """
    arr = np.asarray(pcm)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise AudioError(
            f"{field} must be 1-D mono samples, got shape {arr.shape} (stereo is not accepted)",
            field=field,
        )
    if arr.dtype == np.int16:
        return arr.astype(np.float32) / 32768.0
    if not np.issubdtype(arr.dtype, np.floating):
        raise AudioError(
            f"{field} must be int16 PCM or float samples, got {arr.dtype}", field=field
        )
    out = arr.astype(np.float32)
    if not np.isfinite(out).all():
        raise AudioError(f"{field} contains NaN or inf samples", field=field)
    return np.clip(out, -1.0, 1.0)


_MEL_FILTERS: Final = mel_filter_bank(
    num_frequency_bins=N_FFT // 2 + 1,
    num_mel_filters=N_MELS,
    min_frequency=40.0,
    max_frequency=FEATURE_RATE / 2,
    sampling_rate=FEATURE_RATE,
    norm="slaney",
    mel_scale="slaney",
)
_WINDOW_FN: Final = window_function(WINDOW, "hann")


def log_mel_frames(samples16k: FloatArray) -> FloatArray:
    """Normalised log-mel of every complete window in ``samples16k`` ``(N,)``: ``(T, N_MELS)``.

    Frame ``j`` covers samples ``[j * HOP, j * HOP + WINDOW)``; ``T = 1 + (N - WINDOW) // HOP``.
    """
    if len(samples16k) < WINDOW:
        return np.zeros((0, N_MELS), dtype=np.float32)
    n_frames = 1 + (len(samples16k) - WINDOW) // HOP
    used = samples16k[: (n_frames - 1) * HOP + WINDOW].astype(np.float64)
    spec = spectrogram(
        used,
        _WINDOW_FN,
        frame_length=WINDOW,
        hop_length=HOP,
        fft_length=N_FFT,
        power=2.0,
        center=False,
        mel_filters=_MEL_FILTERS,
        mel_floor=10.0**LOG_FLOOR,
        log_mel="log10",
    )  # (N_MELS, T)
    feats = (np.maximum(spec.T, LOG_FLOOR) + FEATURE_OFFSET) / FEATURE_SCALE
    return np.asarray(feats, dtype=np.float32)


@dataclass
class LogMelStream:
    """Incremental resampler + log-mel for one audio stream.

    ``push`` appends samples at ``sample_rate`` and returns the mel frames they complete
    ``(k, N_MELS)``; ``mel_count`` frames have been produced so far. The stream keeps the 16 kHz
    samples from ``keep_from`` (a mel index, advanced with ``release``) so ``truncate`` can rewind.
    """

    sample_rate: int
    samples16k: int = 0  # real (unpadded) 16 kHz samples produced so far
    mel_count: int = 0
    _buf: FloatArray = field(default_factory=lambda: np.zeros(HALF_WINDOW, dtype=np.float32))
    _buf_start: int = 0  # padded 16 kHz index of _buf[0]
    _keep_from: int = 0  # mel index whose samples must stay buffered
    _resampler: soxr.ResampleStream | None = None

    def __post_init__(self) -> None:
        check_sample_rate(self.sample_rate)
        self._resampler = self._new_resampler()

    def _new_resampler(self) -> soxr.ResampleStream | None:
        if self.sample_rate == FEATURE_RATE:
            return None
        return soxr.ResampleStream(
            self.sample_rate, FEATURE_RATE, 1, dtype="float32", quality=RESAMPLE_QUALITY
        )

    def push(self, samples: FloatArray, *, last: bool = False) -> FloatArray:
        """Append ``(N,)`` float samples; return the newly completed mel frames ``(k, N_MELS)``."""
        if self._resampler is None:
            res = samples.astype(np.float32)
        else:
            res = np.asarray(self._resampler.resample_chunk(samples, last=last), dtype=np.float32)
            if last:
                self._resampler = self._new_resampler()
        self.samples16k += len(res)
        self._buf = np.concatenate([self._buf, res])
        # Compute only frames whose windows are complete and not yet computed.
        first = self.mel_count * HOP - self._buf_start
        feats = log_mel_frames(self._buf[first:])
        self.mel_count += len(feats)
        self._trim()
        return feats

    def release(self, mel_index: int) -> None:
        """Mel frames before ``mel_index`` will never be recomputed: free their samples."""
        self._keep_from = max(self._keep_from, min(mel_index, self.mel_count))
        self._trim()

    def _trim(self) -> None:
        start = min(self._keep_from, self.mel_count) * HOP
        if start > self._buf_start:
            self._buf = self._buf[start - self._buf_start :].copy()
            self._buf_start = start

    def truncate(self, samples16k: int) -> int:
        """Cut the 16 kHz timeline at ``samples16k``; return the mel count still valid after it.

        Mel frames whose window reaches past the cut are forgotten and recomputed from the audio
        pushed next; the resampler restarts (its held-back tail lies after the cut).
        """
        cut_padded = samples16k + HALF_WINDOW
        keep = max(0, (cut_padded - WINDOW) // HOP + 1)
        keep = max(min(keep, self.mel_count), self._keep_from)
        self.mel_count = keep
        end = max(cut_padded, keep * HOP) - self._buf_start
        self._buf = self._buf[: max(end, 0)].copy()
        self.samples16k = samples16k
        self._resampler = self._new_resampler()
        return keep


def log_mel_offline(samples: FloatArray, sample_rate: int) -> FloatArray:
    """Features of a whole clip, identical to streaming it: ``(T, N_MELS)``, T = 100 per second.

    The resampler is flushed at the end, and the clip is padded with silence so every 10 ms
    frame whose centre lies inside the clip is complete.
    """
    stream = LogMelStream(sample_rate)
    n_target = int(np.ceil(len(samples) / sample_rate * MEL_FPS))
    parts = [stream.push(samples, last=True)]
    pad = np.zeros(WINDOW + HOP, dtype=np.float32)
    stream.sample_rate = FEATURE_RATE  # the pad is appended at 16 kHz directly
    stream._resampler = None
    while stream.mel_count < n_target:
        parts.append(stream.push(pad))
    return np.concatenate(parts)[:n_target]


Pcm16 = npt.NDArray[np.int16]


def read_wav(path: str | Path, field: str = "audio") -> tuple[Pcm16, int]:
    """Read a WAV file as PCM16 mono (channels averaged) and its sample rate."""
    from scipy.io import wavfile

    if not Path(path).is_file():
        raise NotFoundError(f"{field}: audio file {path} does not exist", field=field)
    try:
        rate, data = wavfile.read(str(path))
    except (OSError, ValueError) as e:
        raise AudioError(f"{field}: cannot read {path} as WAV: {e}", field=field) from e
    return to_pcm16(np.asarray(data), field), int(rate)


def to_pcm16(data: npt.NDArray[Any], field: str = "audio") -> Pcm16:
    """int16 as is; other ints rescaled; floats in [-1, 1] scaled; multi-channel averaged."""
    if data.ndim == 2:
        data = (
            data.mean(axis=1)
            if data.dtype.kind == "f"
            else data.astype(np.int64).mean(axis=1).astype(data.dtype)
        )
    if data.ndim != 1:
        raise AudioError(
            f"{field} must be mono or (N, channels), got shape {data.shape}", field=field
        )
    out: Pcm16
    if data.dtype == np.int16:
        out = data.astype(np.int16, copy=False)
    elif data.dtype.kind == "f":
        out = (np.clip(np.nan_to_num(data), -1.0, 1.0) * 32767).astype(np.int16)
    elif data.dtype == np.uint8:
        out = ((data.astype(np.int16) - 128) << 8).astype(np.int16)
    elif data.dtype.kind == "i":
        out = (data.astype(np.int64) >> (8 * data.dtype.itemsize - 16)).astype(np.int16)
    else:
        raise AudioError(f"{field} has unsupported sample type {data.dtype}", field=field)
    return out
