"""Hostile portraits for the decoder and store tests: PNG bombs and random noise."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int, height: int, rows: int | None = None) -> bytes:
    """A 1-bit black PNG of ``width x height`` (all of it, or only its first ``rows``):
    6300x6300 is 5 KB of file and 40 MP to decode."""
    raw = (b"\x00" * (1 + (width + 7) // 8)) * (height if rows is None else rows)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def noise_png(seed: int, side: int = 300) -> bytes:
    """A ``side x side`` PNG of uniform random RGB noise: no face in it."""
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()
