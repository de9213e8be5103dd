"""Frame encoding: rendered frames -> JPEG bytes."""

from __future__ import annotations

import numpy as np
import pytest
from face_helpers import astronaut

from lpm_bridge.errors import ConfigError, InvalidInputError
from lpm_bridge.frames import (
    RGB_TO_YCBCR,
    YCBCR_OFFSET,
    YCbCr420,
    decode_jpeg,
    encode_jpeg,
    encode_jpeg_420,
    encode_jpeg_batch,
)
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


def _planes(frame: np.ndarray) -> YCbCr420:
    """A frame in JPEG's colour space, chroma as the mean of each 2x2 block."""
    ycc = np.einsum("ij,hwj->ihw", RGB_TO_YCBCR, frame.astype(np.float32))
    ycc += YCBCR_OFFSET[:, None, None]
    h, w = frame.shape[:2]
    c = ycc[1:].reshape(2, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
    y8 = np.clip(np.rint(ycc[0]), 0, 255).astype(np.uint8)
    return YCbCr420(y8[None], np.clip(np.rint(c), 0, 255).astype(np.uint8)[None])


def test_planes_roundtrip_as_libjpeg_would_encode_them() -> None:
    frame = astronaut().image.numpy()
    planes = _planes(frame)
    assert psnr(planes.to_rgb()[0], frame) > 30.0
    (data,) = encode_jpeg_420(planes, quality=85)
    back = decode_jpeg(data)
    assert back.shape == frame.shape
    # As close to the frame as libjpeg's own RGB path at the same quality.
    assert psnr(back, frame) > psnr(decode_jpeg(encode_jpeg(frame, 85)), frame) - 1.0
    assert len(encode_jpeg_420(planes, quality=40)[0]) < len(data)
    with pytest.raises(ConfigError, match=r"1\.\.100"):
        encode_jpeg_420(planes, quality=101)
