"""MP4 writer: H.264 video, AAC audio on the same timeline, streaming input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lpm_bridge.errors import AudioError, InvalidInputError
from lpm_bridge.video import read_mp4_info, write_mp4


def _frames(n: int, size: int = 64) -> Iterator[np.ndarray]:
    for i in range(n):  # a generator: write_mp4 must not need a list
        f = np.zeros((size, size, 3), np.uint8)
        f[:, : (i * 3) % size] = 200
        yield f


def test_video_only(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    write_mp4(out, _frames(30), fps=25)
    info = read_mp4_info(out)
    assert info["video_codec"] == "h264" and info["frames"] == 30
    assert (info["width"], info["height"]) == (64, 64) and info["fps"] == pytest.approx(25.0)
    assert "audio_codec" not in info


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_with_audio(tmp_path: Path, dtype: type) -> None:
    rate, seconds = 16000, 2.0
    t = np.arange(int(rate * seconds)) / rate
    audio = 0.3 * np.sin(2 * np.pi * 440 * t)
    audio = (audio * 32767).astype(np.int16) if dtype is np.int16 else audio.astype(np.float32)
    out = tmp_path / "av.mp4"
    write_mp4(out, _frames(50), fps=25, audio=audio, sample_rate=rate)
    info = read_mp4_info(out)
    assert info["frames"] == 50 and info["audio_codec"] == "aac" and info["sample_rate"] == rate
    assert abs(info["audio_samples"] - len(audio)) <= 2048  # AAC frame padding only


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="even H and W"):
        write_mp4(tmp_path / "x.mp4", [np.zeros((63, 64, 3), np.uint8)], fps=25)
    with pytest.raises(InvalidInputError, match="no frames"):
        write_mp4(tmp_path / "y.mp4", [], fps=25)
    with pytest.raises(AudioError, match="sample_rate"):
        write_mp4(tmp_path / "z.mp4", _frames(2), fps=25, audio=np.zeros(100, np.float32))
    with pytest.raises(AudioError, match="mono"):
        write_mp4(
            tmp_path / "w.mp4",
            _frames(2),
            fps=25,
            audio=np.zeros((100, 2), np.float32),
            sample_rate=16000,
        )
