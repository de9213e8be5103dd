"""Frame encoding: rendered frames -> JPEG bytes for the wire.

The renderer's last step in the LPM pipeline as the bridge sees it: each video frame
travels as one JPEG. ``simplejpeg`` (libjpeg-turbo, no PIL object per frame) is used
when installed, ~1.7x faster than PIL at 256x256; PIL (also libjpeg-turbo) otherwise.
Both are safe to call from several threads.

Frames come either as RGB or already in JPEG's own colour space (``YCbCr420``): the
renderer can sample a portrait kept in YCbCr, chroma at half resolution, so a frame bound
for JPEG never exists as RGB and the encoder skips its colour conversion and chroma
downsampling (see renderer.py).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from lpm_bridge.errors import ConfigError, InvalidInputError

try:
    import simplejpeg as _simplejpeg
except ImportError:  # pragma: no cover - optional speed-up
    _simplejpeg = None

DEFAULT_QUALITY: Final[int] = 85
BACKEND: Final[str] = "simplejpeg" if _simplejpeg is not None else "pillow"


# JFIF's full-range BT.601 RGB -> YCbCr: rows Y, Cb, Cr; Cb and Cr are offset by 128.
RGB_TO_YCBCR: Final[npt.NDArray[np.float32]] = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]],
    dtype=np.float32,
)
YCBCR_OFFSET: Final[npt.NDArray[np.float32]] = np.array([0.0, 128.0, 128.0], dtype=np.float32)


@dataclass(frozen=True)
class YCbCr420:
    """Frames in JPEG's colour space: full-range BT.601 YCbCr, chroma halved both ways.

    ``y: (T, H, W) uint8``; ``cbcr: (T, 2, H/2, W/2) uint8``, each chroma sample the
    colour of the centre of its 2x2 block of pixels (JFIF's centred siting).
    """

    y: npt.NDArray[np.uint8]
    cbcr: npt.NDArray[np.uint8]

    @classmethod
    def empty(cls, n: int, size: int) -> YCbCr420:
        return cls(
            np.empty((n, size, size), dtype=np.uint8),
            np.empty((n, 2, size // 2, size // 2), dtype=np.uint8),
        )

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, rows: slice) -> YCbCr420:
        return YCbCr420(self.y[rows], self.cbcr[rows])

    def to_rgb(self) -> npt.NDArray[np.uint8]:
        """``(T, H, W, 3) uint8`` RGB, chroma upsampled by pixel repetition (checks, PIL)."""
        c = self.cbcr.repeat(2, axis=2).repeat(2, axis=3).astype(np.float32)
        ycc = np.concatenate([self.y[:, None].astype(np.float32), c], axis=1)
        ycc -= YCBCR_OFFSET[None, :, None, None]
        rgb = np.einsum("ij,tjhw->thwi", np.linalg.inv(RGB_TO_YCBCR), ycc)
        out: npt.NDArray[np.uint8] = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
        return out


def _check(frame: npt.NDArray[np.uint8], quality: int) -> npt.NDArray[np.uint8]:
    if not 1 <= quality <= 100:
        raise ConfigError(f"JPEG quality must be in 1..100, got {quality}", field="quality")
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise InvalidInputError(
            f"frame must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}", field="frame"
        )
    return np.ascontiguousarray(frame)


def encode_jpeg(frame: npt.NDArray[np.uint8], quality: int = DEFAULT_QUALITY) -> bytes:
    """``frame: (H, W, 3) uint8`` RGB -> baseline JPEG bytes (4:2:0)."""
    f = _check(frame, quality)
    if _simplejpeg is not None:
        data: bytes = _simplejpeg.encode_jpeg(
            f, quality=quality, colorspace="RGB", colorsubsampling="420", fastdct=True
        )
        return data
    buf = io.BytesIO()
    Image.fromarray(f).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def encode_jpeg_batch(
    frames: npt.NDArray[np.uint8] | Iterable[npt.NDArray[np.uint8]], quality: int = DEFAULT_QUALITY
) -> list[bytes]:
    """``frames: (B, H, W, 3) uint8`` (or an iterable of frames) -> one JPEG per frame."""
    return [encode_jpeg(f, quality) for f in frames]


def encode_jpeg_420(frames: YCbCr420, quality: int = DEFAULT_QUALITY) -> list[bytes]:
    """One baseline JPEG (4:2:0) per frame of ``frames``, straight from its planes."""
    if not 1 <= quality <= 100:
        raise ConfigError(f"JPEG quality must be in 1..100, got {quality}", field="quality")
    if _simplejpeg is None:  # pragma: no cover - PIL takes RGB (or full-resolution YCbCr)
        return encode_jpeg_batch(frames.to_rgb(), quality)
    enc = _simplejpeg.encode_jpeg_yuv_planes
    return [
        enc(y, c[0], c[1], quality=quality, fastdct=True)
        for y, c in zip(frames.y, frames.cbcr, strict=True)
    ]


def decode_jpeg(data: bytes) -> npt.NDArray[np.uint8]:
    """JPEG bytes -> ``(H, W, 3) uint8`` RGB (for tests and clients)."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.uint8)
