"""Face finding for the appearance encoder: dlib's detector, 68-point landmarks, 128-D embedding.

In the LPM design the appearance encoder reads one portrait once; this module is its
eyes. It is also what the quality benchmark and the tests use to *re-detect* the face
on rendered frames, so the renderer is judged by an independent model, not by its own
numbers. dlib models load once per process and every call into them holds one lock:
dlib's detector (and its DNN embedder) keep scratch buffers in the model object, so two
threads using one model at once corrupt each other (crashes, and noise "found" as a face;
issue 18). A detector per thread would cost 0.55 s and its own buffers per thread; the lock
costs nothing measurable, as portrait encodes are rare and detection is ~20-80 ms of one.

Landmark indices follow the iBUG 300-W 68-point scheme used by dlib. "Right"/"left"
below are the *subject's* sides, as in ARKit: the subject's right eye (dlib 36-41)
appears on the image's left.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

NUM_LANDMARKS: Final[int] = 68
JAW: Final[slice] = slice(0, 17)
CHIN: Final[int] = 8
BROW_RIGHT: Final[slice] = slice(17, 22)  # subject's right, image left
BROW_LEFT: Final[slice] = slice(22, 27)  # subject's left, image right
NOSE_BRIDGE: Final[slice] = slice(27, 31)
NOSE_TIP: Final[int] = 30
NOSE_LOWER: Final[slice] = slice(31, 36)
EYE_RIGHT: Final[slice] = slice(36, 42)  # subject's right eye, image left
EYE_LEFT: Final[slice] = slice(42, 48)  # subject's left eye, image right
MOUTH_OUTER: Final[slice] = slice(48, 60)
MOUTH_INNER: Final[slice] = slice(60, 68)
MOUTH_CORNER_RIGHT: Final[int] = 48  # outer corner on the image's left
MOUTH_CORNER_LEFT: Final[int] = 54
INNER_CORNER_RIGHT: Final[int] = 60
INNER_CORNER_LEFT: Final[int] = 64
# Inner lip contour as two polylines from the image-left corner to the image-right corner.
INNER_UPPER: Final[tuple[int, ...]] = (60, 61, 62, 63, 64)
INNER_LOWER: Final[tuple[int, ...]] = (60, 67, 66, 65, 64)
OUTER_UPPER: Final[tuple[int, ...]] = (48, 49, 50, 51, 52, 53, 54)
OUTER_LOWER: Final[tuple[int, ...]] = (48, 59, 58, 57, 56, 55, 54)
# Eye contour order per eye: outer-ish corner, two upper-lid points, other corner, two lower.
EYE_UPPER_OFFSETS: Final[tuple[int, int]] = (1, 2)
EYE_LOWER_OFFSETS: Final[tuple[int, int]] = (5, 4)

FloatArray = npt.NDArray[np.float32]
U8Image = npt.NDArray[np.uint8]

# Held around every call into (and the loading of) a dlib model: see the module docstring.
_DLIB_LOCK: Final = threading.Lock()


def _model_path(name: str) -> str:
    # Do not import face_recognition_models: it imports pkg_resources, gone from new setuptools.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "face_recognition_models is not installed (pip install face_recognition_models)"
        )
    return str(Path(spec.submodule_search_locations[0]) / "models" / name)


@functools.cache
def _detector() -> Any:
    import dlib

    return dlib.get_frontal_face_detector()


@functools.cache
def _predictor() -> Any:
    import dlib

    return dlib.shape_predictor(_model_path("shape_predictor_68_face_landmarks.dat"))


@functools.cache
def _embedder() -> Any:
    import dlib

    return dlib.face_recognition_model_v1(_model_path("dlib_face_recognition_resnet_model_v1.dat"))


@dataclass(frozen=True)
class FaceBox:
    """A detected face: box corners in pixels and the detector's confidence."""

    left: int
    top: int
    right: int
    bottom: int
    score: float

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(0, self.right - self.left) * max(0, self.bottom - self.top)


def detect_faces(image: U8Image, upsample: int = 1) -> list[FaceBox]:
    """All faces in ``image: (H, W, 3) uint8`` with their detector scores."""
    pixels = np.ascontiguousarray(image)
    with _DLIB_LOCK:
        rects, scores, _ = _detector().run(pixels, upsample, 0.0)
    return [
        FaceBox(r.left(), r.top(), r.right(), r.bottom(), float(s))
        for r, s in zip(rects, scores, strict=True)
    ]


def pick_face(faces: list[FaceBox]) -> FaceBox:
    """The largest face; among faces of similar size (area within 20%) the most confident.

    A plain "largest" rule is fooled by same-sized false detections (the astronaut
    portrait has one on her suit), so size first, then detector score.
    """
    biggest = max(f.area for f in faces)
    similar = [f for f in faces if f.area >= 0.8 * biggest]
    return max(similar, key=lambda f: f.score)


def _rect(box: FaceBox) -> Any:
    import dlib

    return dlib.rectangle(box.left, box.top, box.right, box.bottom)


def predict_landmarks(image: U8Image, box: FaceBox) -> FloatArray:
    """68 landmarks ``(68, 2) float32`` (x, y pixels) of the face in ``box``."""
    pixels = np.ascontiguousarray(image)
    with _DLIB_LOCK:
        shape = _predictor()(pixels, _rect(box))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def find_landmarks(image: U8Image) -> FloatArray | None:
    """Landmarks of the main face in ``image``, or ``None`` when no face is found."""
    faces = detect_faces(image, upsample=1)
    if not faces:
        return None
    return predict_landmarks(image, pick_face(faces))


def face_embedding(image: U8Image, landmarks_box: FaceBox | None = None) -> FloatArray | None:
    """dlib's 128-D identity embedding of the main face, or ``None`` when no face is found.

    Euclidean distance below 0.6 means "same person" in dlib's own evaluation.
    """
    img = np.ascontiguousarray(image)
    if landmarks_box is None:
        faces = detect_faces(img, upsample=1)
        if not faces:
            return None
        landmarks_box = pick_face(faces)
    with _DLIB_LOCK:
        shape = _predictor()(img, _rect(landmarks_box))
        descriptor = _embedder().compute_face_descriptor(img, shape)
    return np.asarray(descriptor, dtype=np.float32)


def eye_aspect_ratio(landmarks: FloatArray, eye: slice) -> float:
    """Soukupová-Čech eye aspect ratio of one eye: lid gap over eye width (open ~0.3)."""
    p = landmarks[eye]
    vertical = np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])
    return float(vertical / (2.0 * np.linalg.norm(p[0] - p[3]) + 1e-6))


def inner_lip_gap(landmarks: FloatArray) -> float:
    """Mean vertical gap between the upper and lower inner lip (pixels, 0 when closed)."""
    upper = landmarks[list(INNER_UPPER[1:4]), 1]
    lower = landmarks[list(INNER_LOWER[1:4]), 1]
    return float(np.mean(lower - upper))


def face_height(landmarks: FloatArray) -> float:
    """Brow-top-to-chin height of a face in pixels: the unit of the mouth targets."""
    top = min(landmarks[BROW_RIGHT, 1].min(), landmarks[BROW_LEFT, 1].min())
    return float(landmarks[CHIN, 1] - top)
