"""The motion contract: the one vector the audio mapper writes and the renderer reads.

A motion frame is a float32 vector of ``NUM_CHANNELS`` = 55 numbers: the 52 ARKit
blendshape weights in Apple's documented order (``ARKIT_NAMES``), each in [0, 1],
then the head rotation ``yaw``, ``pitch``, ``roll`` in radians. Game engines already
speak ARKit-52, so the same numbers drive a 2D portrait here and a 3D rig in a client.

Head rotation conventions (as seen by a viewer looking at the portrait):
  * ``yaw``   > 0 turns the nose toward the image's right edge (+x),
  * ``pitch`` > 0 tips the nose up (the character looks up),
  * ``roll``  > 0 tilts the head counter-clockwise on screen.

On disk a motion track is JSON ``{"fps": 25, "channels": [...55 names], "frames": [[...], ...]}``;
CSV export writes a header row ``time,<channels...>`` and one row per frame.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from lpm_bridge.errors import MotionError

# Apple ARFaceAnchor.BlendShapeLocation, in the order Apple's documentation lists them
# (left eye, right eye, mouth and jaw, eyebrows, cheeks, nose, tongue).
ARKIT_NAMES: Final[tuple[str, ...]] = (
    # Left eye
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    # Right eye
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    # Mouth and jaw
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    # Eyebrows
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    # Cheeks
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    # Nose
    "noseSneerLeft", "noseSneerRight",
    # Tongue
    "tongueOut",
)  # fmt: skip
HEAD_NAMES: Final[tuple[str, ...]] = ("yaw", "pitch", "roll")
CHANNEL_NAMES: Final[tuple[str, ...]] = ARKIT_NAMES + HEAD_NAMES

NUM_BLENDSHAPES: Final[int] = len(ARKIT_NAMES)  # 52
NUM_CHANNELS: Final[int] = len(CHANNEL_NAMES)  # 55
BLENDSHAPES: Final[slice] = slice(0, NUM_BLENDSHAPES)
HEAD: Final[slice] = slice(NUM_BLENDSHAPES, NUM_CHANNELS)

# Index of every channel by name, e.g. ``CH["jawOpen"]``; use these, never bare numbers.
CH: Final[dict[str, int]] = {name: i for i, name in enumerate(CHANNEL_NAMES)}
YAW: Final[int] = CH["yaw"]
PITCH: Final[int] = CH["pitch"]
ROLL: Final[int] = CH["roll"]

# Head angles a motion frame may carry. The renderer is built for about 15 degrees;
# beyond this limit a value is an error (or clipped where a caller asks for clipping).
MAX_HEAD_ANGLE: Final[float] = math.radians(30.0)
# Blendshape weights this far outside [0, 1] are float noise, clipped silently.
WEIGHT_TOLERANCE: Final[float] = 1e-3

SUPPORTED_FPS: Final[tuple[int, ...]] = (25, 30, 60)
DEFAULT_FPS: Final[int] = 25

FloatArray = npt.NDArray[np.float32]


def neutral(n_frames: int = 1) -> FloatArray:
    """A neutral motion: every weight and angle zero. Returns ``(n_frames, 55) float32``."""
    return np.zeros((n_frames, NUM_CHANNELS), dtype=np.float32)


def validate_motion(
    frames: npt.ArrayLike, *, clip: bool = False, field: str = "motion"
) -> FloatArray:
    """Check a batch of motion frames and return it as ``(T, 55) float32``.

    ``frames`` may be ``(55,)`` or ``(T, 55)``. NaN or inf is always an error. Weights
    outside [0, 1] and head angles beyond ``MAX_HEAD_ANGLE`` are errors unless ``clip``
    is true, in which case they are clipped; deviations within ``WEIGHT_TOLERANCE``
    are always clipped (float noise).
    """
    arr = np.asarray(frames, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != NUM_CHANNELS:
        raise MotionError(
            f"{field} must have {NUM_CHANNELS} channels per frame (52 ARKit weights + yaw, pitch, "
            f"roll), got shape {tuple(np.shape(frames))}",
            field=field,
        )
    if not np.isfinite(arr).all():
        t, c = np.argwhere(~np.isfinite(arr))[0]
        raise MotionError(
            f"{field} frame {t} channel {CHANNEL_NAMES[c]!r} is {arr[t, c]}; values must be finite",
            field=field,
        )
    weights, head = arr[:, BLENDSHAPES], arr[:, HEAD]
    if not clip:
        bad = (weights < -WEIGHT_TOLERANCE) | (weights > 1 + WEIGHT_TOLERANCE)
        if bad.any():
            t, c = np.argwhere(bad)[0]
            raise MotionError(
                f"{field} frame {t} weight {ARKIT_NAMES[c]!r} = {weights[t, c]:.4g} "
                "is outside [0, 1]",
                field=field,
            )
        bad_head = np.abs(head) > MAX_HEAD_ANGLE
        if bad_head.any():
            t, c = np.argwhere(bad_head)[0]
            raise MotionError(
                f"{field} frame {t} {HEAD_NAMES[c]} = {head[t, c]:.4g} rad is beyond "
                f"±{MAX_HEAD_ANGLE:.4g} rad",
                field=field,
            )
    out = arr.copy()
    out[:, BLENDSHAPES] = np.clip(weights, 0.0, 1.0)
    out[:, HEAD] = np.clip(head, -MAX_HEAD_ANGLE, MAX_HEAD_ANGLE)
    return out


@dataclass(frozen=True)
class MotionTrack:
    """A motion track: ``frames`` is ``(T, 55) float32`` sampled at ``fps``."""

    fps: int
    frames: FloatArray

    def __post_init__(self) -> None:
        if self.fps <= 0 or self.fps > 240:
            raise MotionError(f"fps must be in 1..240, got {self.fps}", field="fps")
        object.__setattr__(self, "frames", validate_motion(self.frames, field="frames"))

    @property
    def duration_s(self) -> float:
        return len(self.frames) / self.fps

    def to_json(self) -> str:
        return json.dumps(
            {
                "fps": self.fps,
                "channels": list(CHANNEL_NAMES),
                "frames": [[round(float(v), 5) for v in row] for row in self.frames],
            }
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json())

    def save_csv(self, path: str | Path) -> None:
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["time", *CHANNEL_NAMES])
            for i, row in enumerate(self.frames):
                w.writerow([f"{i / self.fps:.5f}", *(f"{float(v):.5f}" for v in row)])

    @classmethod
    def from_json(cls, text: str) -> MotionTrack:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise MotionError(f"motion track is not valid JSON: {e}", field="track") from e
        if not isinstance(doc, dict) or "frames" not in doc or "fps" not in doc:
            raise MotionError("motion track JSON needs 'fps' and 'frames'", field="track")
        channels = doc.get("channels", list(CHANNEL_NAMES))
        if list(channels) != list(CHANNEL_NAMES):
            # Accept any channel order or subset by name; missing channels stay neutral.
            unknown = [c for c in channels if c not in CH]
            if unknown:
                raise MotionError(
                    f"motion track has unknown channels {unknown[:5]}", field="channels"
                )
            raw = np.asarray(doc["frames"], dtype=np.float32)
            if raw.ndim != 2 or raw.shape[1] != len(channels):
                raise MotionError(
                    f"motion track frames have shape {raw.shape}, expected (T, {len(channels)})",
                    field="frames",
                )
            frames = neutral(len(raw))
            frames[:, [CH[c] for c in channels]] = raw
        else:
            frames = np.asarray(doc["frames"], dtype=np.float32)
        fps = doc["fps"]
        if not isinstance(fps, int | float) or int(fps) != fps:
            raise MotionError(f"motion track fps must be a whole number, got {fps!r}", field="fps")
        return cls(fps=int(fps), frames=frames)

    @classmethod
    def load(cls, path: str | Path) -> MotionTrack:
        return cls.from_json(Path(path).read_text())
