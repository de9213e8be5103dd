"""Shared helpers for the face tests: cached appearances and dlib re-detection."""

from __future__ import annotations

import functools
import io

import numpy as np
import numpy.typing as npt
from PIL import Image

from lpm_bridge import landmarks as lm
from lpm_bridge.appearance import Appearance, default_avatar_image, encode_appearance
from lpm_bridge.motion import CH, neutral


@functools.cache
def astronaut(size: int = 256) -> Appearance:
    return encode_appearance(default_avatar_image(), size=size)


@functools.cache
def mirrored_astronaut_png() -> bytes:
    img = Image.open(io.BytesIO(default_avatar_image())).transpose(Image.FLIP_LEFT_RIGHT)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def motion(**channels: float) -> npt.NDArray[np.float32]:
    m = neutral(1)[0]
    for name, v in channels.items():
        m[CH[name]] = v
    return m


def redetect(frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """dlib landmarks of the face in a rendered frame (fails the test if none)."""
    pts = lm.find_landmarks(frame)
    assert pts is not None, "dlib found no face in the rendered frame"
    return pts


@functools.cache
def reference_embedding() -> npt.NDArray[np.float32]:
    img = np.asarray(Image.open(io.BytesIO(default_avatar_image())).convert("RGB"))
    emb = lm.face_embedding(img)
    assert emb is not None
    return emb
