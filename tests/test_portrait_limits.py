"""Portrait size limits: decompression bombs are refused from the header (issue 18, defect 8).

A 151 KB PNG declaring 6300x6300 used to pass the 40 MP limit and cost 1.3-1.9 s of CPU and
110-570 MB per decode; one declaring 30000x30000 was reported as "not an image".
"""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from image_helpers import png_bomb
from PIL import Image

from lpm_bridge.appearance import (
    DECODE_MAX_SIDE,
    MAX_IMAGE_PIXELS,
    decode_image,
    default_avatar_image,
    encode_appearance,
)
from lpm_bridge.errors import ImageError


def _encoded(image: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def _astronaut(size: tuple[int, int]) -> Image.Image:
    return Image.open(io.BytesIO(default_avatar_image())).convert("RGB").resize(size)


@pytest.mark.timeout(20)
def test_bomb_under_the_old_limit_is_refused_before_decoding() -> None:
    bomb = png_bomb(6300, 6300)
    assert len(bomb) < 200_000 and MAX_IMAGE_PIXELS < 6300 * 6300
    decode_image(_encoded(_astronaut((64, 64)), "PNG"))  # PIL's plugins imported
    t0 = time.process_time()
    with pytest.raises(ImageError, match=r"6300x6300 = 39\.7 MP; the limit is 16\.8 MP") as e:
        encode_appearance(bomb)
    assert time.process_time() - t0 < 0.1  # was 1.3-1.9 s: the header alone is read now
    assert e.value.field == "image"


@pytest.mark.timeout(20)
def test_declared_giant_is_reported_by_size_not_as_unreadable() -> None:
    with pytest.raises(ImageError, match=r"30000x30000 = 900\.0 MP") as e:
        decode_image(png_bomb(30000, 30000, rows=4))
    assert "not an image" not in str(e.value)


@pytest.mark.timeout(20)
def test_large_photos_decode_downscaled() -> None:
    photo = _encoded(_astronaut((4032, 3024)), "JPEG")  # a 12 MP phone photo
    t0 = time.process_time()
    pixels = decode_image(photo)
    assert time.process_time() - t0 < 1.0  # JPEG decodes at 1/2 scale in the DCT domain
    assert pixels.shape == (1512, 2016, 3)
    png = decode_image(_encoded(_astronaut((3000, 2100)), "PNG"))
    assert max(png.shape) <= DECODE_MAX_SIDE and png.shape == (1050, 1500, 3)


@pytest.mark.timeout(30)
def test_megapixel_portrait_stays_fast() -> None:
    portrait = _encoded(_astronaut((1000, 1000)), "PNG")
    encode_appearance(default_avatar_image())  # dlib models loaded
    t0 = time.process_time()
    app = encode_appearance(portrait, size=256)
    assert time.process_time() - t0 < 3.0  # ~0.5 s on one core
    assert app.image.shape == (256, 256, 3) and np.isfinite(app.landmarks.numpy()).all()
