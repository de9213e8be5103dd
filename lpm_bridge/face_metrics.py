"""Face quality judged by re-detection: the issue-14 targets as functions of rendered frames.

The renderer is never judged by its own numbers. These helpers take frames as a client
sees them (rendered into JPEG's colour space, encoded and decoded, as the daemon sends
them), find the face again with dlib, and measure what a viewer sees: how far the lips
part and how dark the opening is, how far the lids close, how far the nose travels when
the head turns, and how far dlib's identity embedding moves. ``bench/face_quality.py``
and the face tests share them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from lpm_bridge import landmarks as lm
from lpm_bridge.appearance import Appearance
from lpm_bridge.renderer import Renderer

U8Image = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]

# A pixel of the opened mouth counts as cavity when its luma is below this fraction of the
# face's median luma (issue 14: at least 30 % of the inner-lip area).
CAVITY_LUMA: Final[float] = 0.4
# The inner-lip contour as one closed polygon, corner to corner over the top, back below.
INNER_LIP_RING: Final[tuple[int, ...]] = (60, 61, 62, 63, 64, 65, 66, 67)


@dataclass(frozen=True)
class Detected:
    """dlib's view of one frame: 68 landmarks ``(68, 2)`` and, when asked, the embedding."""

    landmarks: FloatArray
    embedding: FloatArray | None

    @property
    def face_height(self) -> float:
        return lm.face_height(self.landmarks)


def detect(frame: U8Image, embedding: bool = False) -> Detected | None:
    """Re-detect the main face of ``frame: (H, W, 3) uint8`` (``None``: no face found)."""
    faces = lm.detect_faces(frame, upsample=1)
    if not faces:
        return None
    box = lm.pick_face(faces)
    pts = lm.predict_landmarks(frame, box)
    emb = lm.face_embedding(frame, box) if embedding else None
    return Detected(pts, emb)


def luma(frame: U8Image) -> FloatArray:
    """BT.601 luma ``(H, W)`` of an RGB frame."""
    out: FloatArray = frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return out


def polygon_mask(shape: tuple[int, int], points: FloatArray) -> npt.NDArray[np.bool_]:
    """``(H, W)`` pixels inside the polygon ``points: (P, 2)``."""
    img = Image.new("L", (shape[1], shape[0]), 0)
    ImageDraw.Draw(img).polygon([tuple(map(float, p)) for p in points], fill=1)
    return np.asarray(img, dtype=bool)


def face_median_luma(frame: U8Image, landmarks: FloatArray) -> float:
    """Median luma over the face: the hull of jaw line and brows."""
    ring = np.concatenate([landmarks[lm.JAW], landmarks[lm.BROW_LEFT][::-1],
                           landmarks[lm.BROW_RIGHT][::-1]])  # fmt: skip
    mask = polygon_mask(frame.shape[:2], ring)
    return float(np.median(luma(frame)[mask]))


def cavity_fraction(frame: U8Image, landmarks: FloatArray, face_luma: float) -> float:
    """Share of the inner-lip area darker than ``CAVITY_LUMA`` x the face's median luma."""
    mask = polygon_mask(frame.shape[:2], landmarks[list(INNER_LIP_RING)])
    if not mask.any():
        return 0.0
    return float((luma(frame)[mask] < CAVITY_LUMA * face_luma).mean())


def lip_gap(d: Detected) -> float:
    """Inner-lip gap over face height."""
    return lm.inner_lip_gap(d.landmarks) / d.face_height


def eye_ratios(opened: Detected, shut: Detected) -> tuple[float, float]:
    """EAR of each eye (image-left, image-right) shut over open."""
    return tuple(  # type: ignore[return-value]
        lm.eye_aspect_ratio(shut.landmarks, eye) / lm.eye_aspect_ratio(opened.landmarks, eye)
        for eye in (lm.EYE_RIGHT, lm.EYE_LEFT)
    )


def inter_ocular(d: Detected) -> float:
    """Distance between the eye centres, pixels."""
    right = d.landmarks[lm.EYE_RIGHT].mean(axis=0)
    left = d.landmarks[lm.EYE_LEFT].mean(axis=0)
    return float(np.linalg.norm(left - right))


def nose_ahead(d: Detected) -> FloatArray:
    """Nose tip relative to the midpoint of the eye centres ``(2,)``, pixels.

    What a head turn changes besides moving the whole face: the nose sits in front of the
    eyes, so turning the head carries it further than the eyes (parallax). A flat picture
    slid sideways leaves this unchanged."""
    eyes = (d.landmarks[lm.EYE_RIGHT].mean(axis=0) + d.landmarks[lm.EYE_LEFT].mean(axis=0)) / 2
    out: FloatArray = d.landmarks[lm.NOSE_TIP] - eyes
    return out


def nose_travel(a: Detected, b: Detected, unit: float) -> FloatArray:
    """Change of :func:`nose_ahead` from ``a`` to ``b`` ``(2,)`` in units of ``unit`` pixels."""
    out: FloatArray = (nose_ahead(b) - nose_ahead(a)) / unit
    return out


def embedding_distance(a: Detected, b: Detected) -> float:
    assert a.embedding is not None and b.embedding is not None
    return float(np.linalg.norm(a.embedding - b.embedding))


def render_decoded(renderer: Renderer, app: Appearance, motion: FloatArray) -> list[U8Image]:
    """``motion: (T, 55)`` rendered as the daemon sends it (YCbCr 4:2:0 planes, JPEG at
    the default quality) and decoded: what a client, and so dlib, sees."""
    from lpm_bridge.frames import decode_jpeg, encode_jpeg_420

    planes = renderer.render_batch_ycbcr420([app] * len(motion), motion)
    return [decode_jpeg(b) for b in encode_jpeg_420(planes)]
