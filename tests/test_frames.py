"""Frame encoding: rendered frames -> JPEG bytes."""

from __future__ import annotations

import numpy as np
import pytest
from face_helpers import astronaut

from lpm_bridge.errors import ConfigError, InvalidInputError
from lpm_bridge.frames import decode_jpeg, encode_jpeg, encode_jpeg_batch
from lpm_bridge.renderer import psnr


def test_roundtrip_quality() -> None:
    frame = astronaut().image.numpy()
    data = encode_jpeg(frame)
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    back = decode_jpeg(data)
    assert back.shape == frame.shape
    assert psnr(back, frame) > 30.0
    assert len(encode_jpeg(frame, quality=40)) < len(data)


def test_batch() -> None:
    frames = np.stack([astronaut().image.numpy()] * 3)
    out = encode_jpeg_batch(frames, quality=80)
    assert len(out) == 3 and all(isinstance(b, bytes) for b in out)


@pytest.mark.parametrize(
    "frame",
    [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 4), np.uint8)],
)
def test_bad_frame(frame: np.ndarray) -> None:
    with pytest.raises(InvalidInputError, match="\\(H, W, 3\\) uint8"):
        encode_jpeg(frame)


def test_bad_quality() -> None:
    with pytest.raises(ConfigError, match=r"1\.\.100"):
        encode_jpeg(np.zeros((8, 8, 3), np.uint8), quality=0)
