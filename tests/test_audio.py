"""Audio front end: decoding, validation, incremental log-mel identical to offline."""

import numpy as np
import pytest

from lpm_bridge.audio import (
    HALF_WINDOW,
    N_MELS,
    SILENCE_VALUE,
    LogMelStream,
    check_sample_rate,
    decode_pcm16,
    log_mel_frames,
    log_mel_offline,
    to_float_mono,
)
from lpm_bridge.errors import AudioError


def _tone(n: int, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def test_decode_pcm16_and_odd_bytes() -> None:
    pcm = np.array([0, 16384, -32768], dtype="<i2").tobytes()
    assert np.allclose(decode_pcm16(pcm), [0.0, 0.5, -1.0])
    with pytest.raises(AudioError) as e:
        decode_pcm16(pcm[:-1])
    assert e.value.field == "audio"
    with pytest.raises(AudioError):
        decode_pcm16(pcm, channels=2)


@pytest.mark.parametrize("rate", [7999, 48001, 0, -16000])
def test_bad_rates(rate: int) -> None:
    with pytest.raises(AudioError) as e:
        check_sample_rate(rate)
    assert e.value.field == "sample_rate"
    with pytest.raises(AudioError):
        LogMelStream(rate)


def test_non_integer_rate() -> None:
    with pytest.raises(AudioError):
        check_sample_rate(16000.5)  # type: ignore[arg-type]


def test_stereo_and_nan_rejected_clipped_and_zero_valid() -> None:
    with pytest.raises(AudioError):
        to_float_mono(np.zeros((100, 2), dtype=np.int16))
    with pytest.raises(AudioError):
        to_float_mono(np.array([0.0, np.nan], dtype=np.float32))
    assert to_float_mono(np.array([3.0, -7.0])).tolist() == [1.0, -1.0]
    assert to_float_mono(np.zeros((10, 1), dtype=np.int16)).shape == (10,)
    mel = log_mel_offline(np.zeros(16000, dtype=np.float32), 16000)
    assert mel.shape == (100, N_MELS)
    assert np.allclose(mel, SILENCE_VALUE)


def test_incremental_equals_offline_at_16k() -> None:
    x = _tone(16000, 16000)
    whole = log_mel_frames(np.concatenate([np.zeros(HALF_WINDOW, np.float32), x]))
    stream = LogMelStream(16000)
    rng = np.random.default_rng(0)
    parts, i = [], 0
    while i < len(x):
        n = int(rng.integers(1, 900))
        parts.append(stream.push(x[i : i + n]))
        stream.release(stream.mel_count - 3)  # freeing old samples must not change anything
        i += n
    got = np.concatenate(parts)
    assert got.shape == whole.shape
    assert np.allclose(got, whole, atol=1e-5)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_streaming_resampled_matches_one_push(rate: int) -> None:
    x = _tone(rate, rate)
    one = LogMelStream(rate).push(x)
    stream = LogMelStream(rate)
    got = np.concatenate([stream.push(x[i : i + 777]) for i in range(0, len(x), 777)])
    n = min(len(one), len(got))
    assert n > 80
    assert np.abs(got[:n] - one[:n]).max() < 0.05


def test_mel_frame_centred_on_its_time() -> None:
    x = np.zeros(16000, dtype=np.float32)
    x[5000:5040] = 0.9  # a click at 312.5 ms
    mel = log_mel_offline(x, 16000)
    assert abs(int(np.argmax(mel.mean(1))) - 31) <= 1


def test_truncate_rewinds() -> None:
    x = _tone(16000, 16000)
    stream = LogMelStream(16000)
    first = stream.push(x[:8000])
    stream.push(x[8000:])
    keep = stream.truncate(8000)
    assert stream.samples16k == 8000
    assert keep <= len(first)
    again = stream.push(x[8000:])
    ref = LogMelStream(16000).push(x)
    assert np.allclose(np.concatenate([first[:keep], again]), ref[: keep + len(again)], atol=1e-5)
