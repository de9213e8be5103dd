"""The face rig: how each motion channel moves one avatar's face, built once per avatar.

Part of the appearance encoder in the LPM design. From the 68 landmarks of the aligned
portrait it builds what the renderer needs so that a frame costs one small matmul:

* **control points** (landmarks plus a few virtual ones: forehead, cheeks, under the chin)
  and, per motion *feature*, how far each point moves (``displacements``) in pixels, scaled
  by this face's own height and mouth width;
* a dense **field basis**: each feature's backward displacement field on a coarse grid over
  the face (Shepard interpolation of the control points, with a *lip seam* so the jaw can
  open the lips instead of smearing them);
* **head** depth maps (an ellipsoid plus a nose bump) that turn yaw/pitch/roll into a
  smooth warp fading to zero before the image border, so the background never tears;
* **eye** and **mouth** parameters for the two non-linear parts: eyelids that slide over the
  eye, and the mouth interior (cavity, teeth) painted where the lips part.

Coordinates are output pixels of the square crop (x right, y down). The subject's left
(ARKit ``...Left``) is the image's right.
"""

from __future__ import annotations

import functools
import importlib.resources
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from lpm_bridge import landmarks as lm
from lpm_bridge.motion import CH, NUM_BLENDSHAPES

FloatArray = npt.NDArray[np.float32]

# Motion features: the 52 ARKit weights, then non-linear combinations the renderer
# computes per frame so the field stays linear in them.
CLOSE_WITH_JAW: Final[int] = NUM_BLENDSHAPES  # min(mouthClose, jawOpen): lips back up
NUM_FEATURES: Final[int] = NUM_BLENDSHAPES + 1

# Grid step of the field basis as a fraction of the output size: 128 cells across the
# frame whatever the output size, so an Appearance is the same few MB at 256 and 512.
FIELD_CELLS: Final[int] = 128
# Square region of the frame the face field covers, centred on the face (fraction of S).
FIELD_SPAN: Final[float] = 0.72

# Jaw drop of the lower lip at jawOpen = 1, as a fraction of face height. Sized so dlib
# re-detects an inner-lip gap of >= 8% of the face height (see bench/face_quality.py).
JAW_DROP: Final[float] = 0.12

# Virtual control points appended after the 68 landmarks.
V_FOREHEAD: Final[slice] = slice(68, 71)
V_CHEEK_RIGHT: Final[int] = 71  # image left
V_CHEEK_LEFT: Final[int] = 72  # image right
V_UNDER_CHIN: Final[slice] = slice(73, 76)
V_UNDER_CHIN_IDX: Final[tuple[int, ...]] = (73, 74, 75)
NUM_POINTS: Final[int] = 76

# Side of the lip seam a point belongs to: both sides, above (skull), below (jaw).
SIDE_BOTH, SIDE_UPPER, SIDE_LOWER = 0, 1, 2
# Which seam a feature's field is split at: the lower inner lip (jaw-like motions keep
# any visible upper teeth with the skull) or the upper inner lip (closing over the teeth).
SEAM_LOW, SEAM_UP = 0, 1

LOWER_LIP: Final[tuple[int, ...]] = (55, 56, 57, 58, 59, 65, 66, 67)
UPPER_LIP: Final[tuple[int, ...]] = (49, 50, 51, 52, 53, 61, 62, 63)
LOWER_JAW: Final[tuple[int, ...]] = tuple(range(4, 13))
CORNERS: Final[tuple[int, ...]] = (48, 54, 60, 64)


@dataclass(frozen=True)
class FaceGeometry:
    """Scale references of one face, in output pixels."""

    points: FloatArray  # (NUM_POINTS, 2) control points
    height: float  # brow top to chin
    mouth_width: float  # outer corner to outer corner
    mouth_center: FloatArray  # (2,)
    neutral_gap: float  # inner lip gap of the portrait itself (teeth showing)

    @property
    def landmarks(self) -> FloatArray:
        return self.points[: lm.NUM_LANDMARKS]


def build_geometry(landmarks: FloatArray) -> FaceGeometry:
    """Control points (landmarks + virtual points) and scale references of a face."""
    p = landmarks.astype(np.float32)
    h = lm.face_height(p)
    mouth_w = float(np.linalg.norm(p[lm.MOUTH_CORNER_LEFT] - p[lm.MOUTH_CORNER_RIGHT]))
    mouth_c = (p[lm.MOUTH_CORNER_LEFT] + p[lm.MOUTH_CORNER_RIGHT]) / 2
    brow = np.concatenate([p[lm.BROW_RIGHT], p[lm.BROW_LEFT]])
    forehead = np.stack([brow[1], (brow[4] + brow[5]) / 2, brow[8]]) - [0.0, 0.22 * h]
    cheek_r = (p[41] + p[lm.MOUTH_CORNER_RIGHT]) / 2 - [0.08 * mouth_w, 0.0]
    cheek_l = (p[46] + p[lm.MOUTH_CORNER_LEFT]) / 2 + [0.08 * mouth_w, 0.0]
    under = p[[6, 8, 10]] + [0.0, 0.14 * h]
    pts = np.concatenate([p, forehead, cheek_r[None], cheek_l[None], under]).astype(np.float32)
    return FaceGeometry(
        points=pts,
        height=h,
        mouth_width=mouth_w,
        mouth_center=mouth_c.astype(np.float32),
        neutral_gap=max(0.0, lm.inner_lip_gap(p)),
    )


def point_sides() -> npt.NDArray[np.int64]:
    """Seam side of every control point."""
    side = np.full(NUM_POINTS, SIDE_UPPER, dtype=np.int64)
    side[list(LOWER_LIP) + list(LOWER_JAW)] = SIDE_LOWER
    side[V_UNDER_CHIN] = SIDE_LOWER
    side[[*CORNERS, 3, 13]] = SIDE_BOTH
    return side


def point_sigmas(g: FaceGeometry) -> FloatArray:
    """Radius of influence of each control point: small on the lips, larger elsewhere."""
    s = np.full(NUM_POINTS, 0.10 * g.height, dtype=np.float32)
    s[lm.MOUTH_OUTER] = 0.06 * g.height
    s[lm.MOUTH_INNER] = 0.05 * g.height
    s[lm.EYE_RIGHT] = s[lm.EYE_LEFT] = 0.05 * g.height
    s[lm.BROW_RIGHT] = s[lm.BROW_LEFT] = 0.08 * g.height
    s[V_FOREHEAD] = s[V_UNDER_CHIN] = 0.14 * g.height
    return s


# ---------------------------------------------------------------- channel displacements

Disp = FloatArray  # (NUM_POINTS, 2) forward displacement of every control point, pixels


def _jaw_weights(g: FaceGeometry) -> FloatArray:
    """How much each point follows the jaw: 1 at the chin, 0 at mouth level."""
    p = g.points
    chin_y = p[lm.CHIN, 1]
    t = np.clip((p[:, 1] - g.mouth_center[1]) / max(chin_y - g.mouth_center[1], 1.0), 0, 1)
    w = np.zeros(NUM_POINTS, dtype=np.float32)
    idx = list(LOWER_JAW)
    w[idx] = t[idx] ** 0.7
    w[list(LOWER_LIP)] = 1.0
    w[V_UNDER_CHIN] = 0.55
    return w


def _jaw_open(g: FaceGeometry) -> Disp:
    a = JAW_DROP * g.height
    d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
    d[:, 1] = a * _jaw_weights(g)
    # A round opening, not a trapezoid: the lip sides drop less than the middle.
    d[[65, 67, 55, 59], 1] *= 0.8
    d[[56, 58], 1] *= 0.93
    for c, sign in ((48, 1), (60, 1), (54, -1), (64, -1)):
        d[c] = (sign * 0.03 * g.mouth_width, 0.4 * a)
    d[list(UPPER_LIP), 1] = -0.04 * a
    return d


def _close_with_jaw(g: FaceGeometry) -> Disp:
    """Lips back together while the jaw stays open (ARKit mouthClose): the jaw's lip
    motion undone, the chin left where the jaw put it. 10% extra on the lower lip
    makes up for the still chin pulling the Shepard average."""
    jaw = _jaw_open(g)
    d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
    lips = [*LOWER_LIP, *UPPER_LIP, *CORNERS]
    d[lips] = -jaw[lips]
    d[list(LOWER_LIP)] *= 1.1
    return d


# Share of the mouthClose lip motion done by warping the face; the renderer seals the rest
# by stretching the lips' own material over the opening (``renderer._close_own_lips``),
# which leaves the smile, cheeks and chin in place (identity 0.34 -> 0.27 on the bundled
# portrait, bench/face_quality.py).
CLOSE_WARP: Final[float] = 0.7


def _close_gap(g: FaceGeometry) -> Disp:
    """mouthClose alone: seal a portrait's own parted lips (teeth showing), partly."""
    d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
    # Shepard interpolation undershoots between still neighbours: overshoot the lips a
    # little and bring the chin along so the lower lip really meets the upper one.
    gap = CLOSE_WARP * (g.neutral_gap + 0.015 * g.height)
    d[list(LOWER_LIP), 1] = -1.1 * gap
    d[[7, 8, 9, *V_UNDER_CHIN_IDX]] = (0.0, -0.4 * gap)
    d[list(UPPER_LIP), 1] = 0.35 * gap
    return d


def _mirror(idx_right: tuple[int, ...]) -> dict[int, int]:
    """dlib landmark mirror pairs (image-left <-> image-right)."""
    pairs = {48: 54, 49: 53, 50: 52, 59: 55, 58: 56, 60: 64, 61: 63, 67: 65,
             17: 26, 18: 25, 19: 24, 20: 23, 21: 22, 31: 35, 32: 34,
             36: 45, 37: 44, 38: 43, 39: 42, 40: 47, 41: 46,
             71: 72, 2: 14, 3: 13, 4: 12, 5: 11, 6: 10, 7: 9, 1: 15, 0: 16}  # fmt: skip
    both = {**pairs, **{v: k for k, v in pairs.items()}}
    return {i: both.get(i, i) for i in idx_right}


def _sided(
    build: Callable[[FaceGeometry, float], Disp], left: bool
) -> Callable[[FaceGeometry], Disp]:
    """A one-sided channel: ``build(g, sign)`` describes the subject's right (image left);
    the left version mirrors point indices and flips x."""

    def make(g: FaceGeometry) -> Disp:
        d = build(g, -1.0)  # sign = direction "outward" in x for the image-left side
        if not left:
            return d
        m = np.zeros_like(d)
        for i, j in _mirror(tuple(range(NUM_POINTS))).items():
            m[j] = (-d[i, 0], d[i, 1])
        return m

    return make


def _smile(g: FaceGeometry, out: float) -> Disp:
    d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
    w, h = g.mouth_width, g.height
    d[[48, 60]] = (out * 0.10 * w, -0.06 * h)
    d[[49, 59, 61, 67]] = (out * 0.04 * w, -0.03 * h)
    d[V_CHEEK_RIGHT] = (out * 0.02 * w, -0.035 * h)
    d[[40, 41]] = (0.0, -0.008 * h)
    return d


def _frown(g: FaceGeometry, out: float) -> Disp:
    d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
    d[[48, 60]] = (0.0, 0.05 * g.height)
    d[[49, 59, 61, 67]] = (0.0, 0.02 * g.height)
    return d


def _dimple(g: FaceGeometry, out: float) -> Disp:
    d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
    d[[48, 60]] = (out * 0.06 * g.mouth_width, 0.0)
    d[[49, 59]] = (out * 0.02 * g.mouth_width, 0.0)
    return d


def _stretch(g: FaceGeometry, out: float) -> Disp:
    d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
    d[[48, 60]] = (out * 0.10 * g.mouth_width, 0.025 * g.height)
    d[[59, 58, 67]] = (out * 0.03 * g.mouth_width, 0.02 * g.height)
    return d


def _press(g: FaceGeometry, out: float) -> Disp:
    d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
    p = g.points
    for up, inner in ((49, 61), (50, 61)):
        d[up, 1] = 0.4 * (p[inner, 1] - p[up, 1])
    for lo, inner in ((59, 67), (58, 67)):
        d[lo, 1] = 0.4 * (p[inner, 1] - p[lo, 1])
    return d


def _lower_down(g: FaceGeometry, out: float) -> Disp:
    d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
    d[[59, 67, 58]] = (0.0, 0.06 * g.height)
    d[[57, 66]] = (0.0, 0.03 * g.height)
    d[[48, 60]] = (0.0, 0.01 * g.height)
    return d


def _upper_up(g: FaceGeometry, out: float) -> Disp:
    d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
    d[[49, 61, 50]] = (0.0, -0.045 * g.height)
    d[[51, 62]] = (0.0, -0.02 * g.height)
    return d


def _brow_down(g: FaceGeometry, out: float) -> Disp:
    d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
    d[17:22] = (0.0, 0.045 * g.height)
    d[[20, 21]] += (-out * 0.02 * g.height, 0.0)
    return d


def _brow_outer_up(g: FaceGeometry, out: float) -> Disp:
    d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
    d[[17, 18, 19]] = [(0, -0.07 * g.height), (0, -0.05 * g.height), (0, -0.025 * g.height)]
    return d


def _cheek_squint(g: FaceGeometry, out: float) -> Disp:
    d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
    d[V_CHEEK_RIGHT] = (0.0, -0.035 * g.height)
    d[[40, 41]] = (0.0, -0.012 * g.height)
    return d


def _nose_sneer(g: FaceGeometry, out: float) -> Disp:
    d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
    d[31] = (0.0, -0.035 * g.height)
    d[32] = (0.0, -0.02 * g.height)
    d[[49, 50]] = (0.0, -0.012 * g.height)
    return d


def _eye_squint(g: FaceGeometry, out: float) -> Disp:
    d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
    p = g.points
    d[[40, 41]] = (0.0, -0.3 * float(np.mean(p[[40, 41], 1] - p[[38, 37], 1])))
    return d


def _eye_wide(g: FaceGeometry, out: float) -> Disp:
    d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
    p = g.points
    d[[37, 38]] = (0.0, -0.25 * float(np.mean(p[[40, 41], 1] - p[[38, 37], 1])))
    d[17:22] = (0.0, -0.012 * g.height)
    return d


def _cheek_puff(g: FaceGeometry) -> Disp:
    d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
    for i, k in ((2, 0.5), (3, 1.0), (4, 1.0), (5, 0.6)):
        d[i] = (-0.09 * k * g.mouth_width, 0.0)
        d[16 - i] = (0.09 * k * g.mouth_width, 0.0)
    d[[V_CHEEK_RIGHT, V_CHEEK_LEFT]] = [(-0.05 * g.mouth_width, 0), (0.05 * g.mouth_width, 0)]
    return d


def _translate(indices: tuple[int, ...], dx: float, dy: float) -> Callable[[FaceGeometry], Disp]:
    def make(g: FaceGeometry) -> Disp:
        d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
        d[list(indices)] = (dx * g.mouth_width, dy * g.height)
        return d

    return make


def _funnel(g: FaceGeometry) -> Disp:
    d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
    w, h = g.mouth_width, g.height
    d[[48, 60]], d[[54, 64]] = (0.13 * w, 0.0), (-0.13 * w, 0.0)
    d[[49, 50, 51, 52, 53]] = (0.0, -0.03 * h)
    d[[55, 56, 57, 58, 59]] = (0.0, 0.03 * h)
    d[[61, 62, 63]] = (0.0, -0.02 * h)
    d[[65, 66, 67]] = (0.0, 0.035 * h)
    return d


def _pucker(g: FaceGeometry) -> Disp:
    d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
    w, h = g.mouth_width, g.height
    d[[48, 60]], d[[54, 64]] = (0.24 * w, 0.0), (-0.24 * w, 0.0)
    d[[49, 59, 61, 67]], d[[53, 55, 63, 65]] = (0.11 * w, 0.0), (-0.11 * w, 0.0)
    d[[50, 51, 52]] = (0.0, -0.02 * h)
    d[[56, 57, 58]] = (0.0, 0.02 * h)
    return d


def _roll(g: FaceGeometry, outer: tuple[int, ...], inner: tuple[int, ...]) -> Disp:
    d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
    p = g.points
    for o, i in zip(outer, inner, strict=True):
        d[o, 1] = 0.6 * (p[i, 1] - p[o, 1])
    return d


def _brow_inner_up(g: FaceGeometry) -> Disp:
    d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
    for i, k in ((21, 1.0), (22, 1.0), (20, 0.6), (23, 0.6), (19, 0.25), (24, 0.25)):
        d[i] = (0.0, -0.075 * k * g.height)
    d[V_FOREHEAD] = (0.0, -0.02 * g.height)
    return d


def _jaw_side(sign: float) -> Callable[[FaceGeometry], Disp]:
    def make(g: FaceGeometry) -> Disp:
        d = np.zeros((NUM_POINTS, 2), dtype=np.float32)
        d[:, 0] = sign * 0.10 * g.mouth_width * _jaw_weights(g)
        return d

    return make


def _jaw_forward(g: FaceGeometry) -> Disp:
    d = _jaw_open(g) * 0.15
    d[list(UPPER_LIP)] = 0.0
    return d


def _zero(g: FaceGeometry) -> Disp:
    return np.zeros((NUM_POINTS, 2), dtype=np.float32)


def _both(
    build: Callable[[FaceGeometry, float], Disp],
) -> tuple[Callable[[FaceGeometry], Disp], ...]:
    """(Left, Right) channel builders from one image-left description."""
    return _sided(build, left=True), _sided(build, left=False)


# Feature -> (displacement builder, seam). Blinks and gaze are not here: eyelids slide
# (non-linear, see the renderer) and gaze moves the iris inside the eye opening only.
def channel_builders() -> dict[int, tuple[Callable[[FaceGeometry], Disp], int]]:
    smile, frown, dimple = _both(_smile), _both(_frown), _both(_dimple)
    stretch, press = _both(_stretch), _both(_press)
    lower_down, upper_up = _both(_lower_down), _both(_upper_up)
    brow_down, brow_out = _both(_brow_down), _both(_brow_outer_up)
    cheek_sq, sneer = _both(_cheek_squint), _both(_nose_sneer)
    squint, wide = _both(_eye_squint), _both(_eye_wide)
    mouth = tuple(range(48, 68))
    b: dict[str, Callable[[FaceGeometry], Disp]] = {
        "eyeSquintLeft": squint[0], "eyeSquintRight": squint[1],
        "eyeWideLeft": wide[0], "eyeWideRight": wide[1],
        "jawForward": _jaw_forward, "jawLeft": _jaw_side(1.0), "jawRight": _jaw_side(-1.0),
        "jawOpen": _jaw_open, "mouthClose": _close_gap,
        "mouthFunnel": _funnel, "mouthPucker": _pucker,
        "mouthLeft": _translate(mouth, 0.10, 0.0), "mouthRight": _translate(mouth, -0.10, 0.0),
        "mouthSmileLeft": smile[0], "mouthSmileRight": smile[1],
        "mouthFrownLeft": frown[0], "mouthFrownRight": frown[1],
        "mouthDimpleLeft": dimple[0], "mouthDimpleRight": dimple[1],
        "mouthStretchLeft": stretch[0], "mouthStretchRight": stretch[1],
        "mouthRollLower": lambda g: _roll(g, (56, 57, 58), (65, 66, 67)),
        "mouthRollUpper": lambda g: _roll(g, (50, 51, 52), (61, 62, 63)),
        "mouthShrugLower": _translate((*LOWER_LIP, 8, 7, 9), 0.0, -0.025),
        "mouthShrugUpper": _translate(UPPER_LIP, 0.0, -0.025),
        "mouthPressLeft": press[0], "mouthPressRight": press[1],
        "mouthLowerDownLeft": lower_down[0], "mouthLowerDownRight": lower_down[1],
        "mouthUpperUpLeft": upper_up[0], "mouthUpperUpRight": upper_up[1],
        "browDownLeft": brow_down[0], "browDownRight": brow_down[1],
        "browInnerUp": _brow_inner_up,
        "browOuterUpLeft": brow_out[0], "browOuterUpRight": brow_out[1],
        "cheekPuff": _cheek_puff,
        "cheekSquintLeft": cheek_sq[0], "cheekSquintRight": cheek_sq[1],
        "noseSneerLeft": sneer[0], "noseSneerRight": sneer[1],
        "tongueOut": _translate(LOWER_LIP, 0.0, 0.02),
    }  # fmt: skip
    seam_up = {"mouthClose"}
    out = {CH[k]: (f, SEAM_UP if k in seam_up else SEAM_LOW) for k, f in b.items()}
    out[CLOSE_WITH_JAW] = (_close_with_jaw, SEAM_LOW)
    return out


def displacements(g: FaceGeometry) -> FloatArray:
    """Forward displacement of every control point per feature: ``(F, NUM_POINTS, 2)``."""
    d = np.zeros((NUM_FEATURES, NUM_POINTS, 2), dtype=np.float32)
    for f, (build, _) in channel_builders().items():
        d[f] = build(g)
    return d


def feature_seams() -> npt.NDArray[np.int64]:
    seams = np.zeros(NUM_FEATURES, dtype=np.int64)
    for f, (_, seam) in channel_builders().items():
        seams[f] = seam
    return seams


# ---------------------------------------------------------------- dense field basis


def _polyline_y(points: FloatArray, x: FloatArray) -> FloatArray:
    order = np.argsort(points[:, 0])
    out: FloatArray = np.interp(x, points[order, 0], points[order, 1]).astype(np.float32)
    return out


def seam_side(
    g: FaceGeometry, seam: int, xs: FloatArray, ys: FloatArray, step: float = 1.0
) -> FloatArray:
    """Soft 0 (above) .. 1 (below) side of the lip seam at grid points ``xs, ys: (N,)``.

    Between the mouth corners the step is about a pixel wide so the lips can part;
    beyond them it widens with distance so the cheeks bend instead of tearing. The
    closing seam sits ``step`` (a field cell) inside the upper lip: the field is sampled
    bilinearly, and a smeared cell must show lip, not a sliver of teeth.
    """
    p = g.landmarks
    up = _polyline_y(p[list(lm.INNER_UPPER)], xs)
    lo = _polyline_y(p[list(lm.INNER_LOWER)], xs)
    mid = (up + lo) / 2
    line = np.maximum(lo - 1.0, mid) if seam == SEAM_LOW else np.minimum(up - step, mid)
    half_w = g.mouth_width / 2
    outside = np.maximum(np.abs(xs - g.mouth_center[0]) - half_w, 0.0)
    tau = 0.6 + 0.6 * outside
    z = np.clip((ys - line) / tau, -30, 30)
    out: FloatArray = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
    return out


def shepard_weights(
    g: FaceGeometry, xs: FloatArray, ys: FloatArray, side: FloatArray
) -> FloatArray:
    """Normalised interpolation weights ``(N, NUM_POINTS)`` of control points at grid points.

    Gaussian kernels normalised with a constant "stay still" term, so far from every
    control point the field fades to zero. Points above the seam vanish below it and
    vice versa (``side`` from :func:`seam_side`).
    """
    pts, sig = g.points, point_sigmas(g)
    d2 = (xs[:, None] - pts[None, :, 0]) ** 2 + (ys[:, None] - pts[None, :, 1]) ** 2
    phi = np.exp(-d2 / (2 * sig[None, :] ** 2))
    sides = point_sides()
    phi[:, sides == SIDE_UPPER] *= (1 - side)[:, None]
    phi[:, sides == SIDE_LOWER] *= side[:, None]
    out: FloatArray = (phi / (phi.sum(axis=1, keepdims=True) + 0.03)).astype(np.float32)
    return out


@dataclass(frozen=True)
class FieldGrid:
    """The coarse grid the face field lives on: ``(rows, cols)`` cells of ``step`` pixels."""

    x0: float
    y0: float
    step: float
    rows: int
    cols: int

    def coords(self) -> tuple[FloatArray, FloatArray]:
        ys, xs = np.mgrid[0 : self.rows, 0 : self.cols].astype(np.float32)
        return (self.x0 + xs * self.step).ravel(), (self.y0 + ys * self.step).ravel()


def field_grid(g: FaceGeometry, size: int) -> FieldGrid:
    step = size / FIELD_CELLS
    n = round(FIELD_CELLS * FIELD_SPAN)
    cx = float(np.mean(g.landmarks[:, 0]))
    cy = float(np.mean(g.landmarks[:, 1]))
    half = (n - 1) * step / 2
    return FieldGrid(x0=cx - half, y0=cy - half, step=step, rows=n, cols=n)


def field_basis(g: FaceGeometry, grid: FieldGrid, disp: FloatArray) -> FloatArray:
    """Backward displacement (output pixels) per feature on ``grid``: ``(F, 2, rows, cols)``.

    The renderer samples the portrait at ``x + field(x)``; for smooth motions the
    backward field is the negated forward one, which is what this returns.
    """
    xs, ys = grid.coords()
    seams = feature_seams()
    out = np.zeros((NUM_FEATURES, 2, grid.rows * grid.cols), dtype=np.float32)
    for seam in (SEAM_LOW, SEAM_UP):
        feats = np.flatnonzero(seams == seam)
        w = shepard_weights(g, xs, ys, seam_side(g, seam, xs, ys, grid.step))
        out[feats] = -np.einsum("nk,fkc->fcn", w, disp[feats])
    return out.reshape(NUM_FEATURES, 2, grid.rows, grid.cols)


# ---------------------------------------------------------------- eyes, mouth, head

# Eye parameter vector layout (per eye), output pixels.
EYE_CX, EYE_CY, EYE_UX, EYE_UY, EYE_HALF, EYE_UP, EYE_LOW, EYE_LID = range(8)
EYE_SKIN: Final[slice] = slice(8, 11)  # RGB of the lid skin, painted over a closed eye
EYE_PARAMS: Final[int] = 11


def eye_params(g: FaceGeometry, image: npt.NDArray[np.uint8]) -> FloatArray:
    """Per eye (image-left = subject's right first): centre, axis, half length, upper and
    lower lid heights over a parabola profile, the height of lid skin above the eye
    that slides down on a blink, and the lid skin colour. ``(2, EYE_PARAMS)``."""
    out = np.zeros((2, EYE_PARAMS), dtype=np.float32)
    for e, (eye, brow) in enumerate(((lm.EYE_RIGHT, lm.BROW_RIGHT), (lm.EYE_LEFT, lm.BROW_LEFT))):
        p = g.landmarks[eye]
        c = (p[0] + p[3]) / 2
        axis = p[3] - p[0]
        half = float(np.linalg.norm(axis) / 2)
        u = axis / (2 * half)
        v = np.array([u[1], -u[0]], dtype=np.float32)  # "up" on screen
        up_pts = p[list(lm.EYE_UPPER_OFFSETS)]
        lo_pts = p[list(lm.EYE_LOWER_OFFSETS)]
        prof_up = 1 - ((up_pts - c) @ u / half) ** 2
        prof_lo = 1 - ((lo_pts - c) @ u / half) ** 2
        h_up = float(np.mean(((up_pts - c) @ v) / np.maximum(prof_up, 0.3)))
        h_lo = float(np.mean((-(lo_pts - c) @ v) / np.maximum(prof_lo, 0.3)))
        brow_gap = float(np.mean(c[1] - g.landmarks[brow][:, 1]))
        lid = min(1.3 * (h_up + h_lo), 0.55 * brow_gap)
        # Lid skin: a row between the lid crease and the brow.
        row = c + v * (h_up + 0.55 * lid) + np.outer(np.linspace(-0.6, 0.6, 9) * half, u)
        xy = np.clip(row.round().astype(int), 0, np.array(image.shape[1::-1]) - 1)
        px = image[xy[:, 1], xy[:, 0]].astype(np.float32)
        skin = np.median(px, axis=0) * 0.95  # a closed lid sits in its own slight shadow
        out[e, :8] = (c[0], c[1], u[0], u[1], half, max(h_up, 1.0), max(h_lo, 0.5), lid)
        out[e, EYE_SKIN] = skin
    return out


# Mouth interior parameters: colour rows (RGB, 0..255), then the portrait's colourfulness.
MOUTH_COLORS: Final[int] = 5  # cavity, teeth, tongue, lip, chroma (one value, thrice)
CAVITY, TEETH, TONGUE, LIP, CHROMA = range(MOUTH_COLORS)
# Luma of the painted cavity and tongue as fractions of the skin's: the cavity must read as
# a hole (darker than 40 % of the face's median luma, bench/face_quality.py) however bright
# or dark the portrait is; the tongue on its floor is lit, a little.
CAVITY_LUMA: Final[float] = 0.2
TONGUE_LUMA: Final[float] = 0.42
# Painted teeth are this much brighter than the skin (at most 240): teeth read as teeth,
# not as a pale lip, to a viewer and to dlib (dimmer teeth made it re-detect the bright
# row as the upper lip and the opening as a closed mouth's shadow line).
TEETH_LUMA: Final[float] = 1.6
# The tongue's crest rises this fraction of the lip-to-lip opening above the lower lip
# (to 0.8 with tongueOut). Kept low and dim: a lit tongue high in the opening reads as
# the lower lip, to a viewer and to dlib.
TONGUE_RISE: Final[float] = 0.3
# Light on the tooth row toward the mouth corners (the row curves back into the dark),
# and right under the upper lip (its shadow), as fractions of the full light.
TEETH_CORNER_LIGHT: Final[float] = 0.8
TEETH_LIP_SHADOW: Final[float] = 0.8
# Hue of a mouth's inside and of a tongue at full colour (luma 1): deep red, dull pink.
CAVITY_HUE: Final[tuple[float, float, float]] = (1.75, 0.72, 0.70)
TONGUE_HUE: Final[tuple[float, float, float]] = (1.45, 0.82, 0.80)

# The tooth row (lpm_bridge/assets/mouth/teeth.png, scripts/make_mouth_asset.py): the
# upper teeth of a public-domain portrait, rectified below the upper inner lip. Its width
# spans TEETH_SPAN face heights (a real row keeps its size whatever the mouth does: a
# narrow mouth shows the front teeth, a wide one the dark corridors beside them); the
# central tips are at row TEETH_TIP_ROW of the asset.
TEETH_SPAN: Final[float] = 0.457
TEETH_TIP_ROW: Final[float] = 24.0
# How far the upper tooth tips hang below the upper inner lip (fraction of face height):
# at rest a lip covers most of the crown. The lower row shows above the lower lip only
# when the jaw opens wide, at most LOWER_TEETH_SHOW (more made dlib take the lower teeth
# for the lower lip and re-detect a closed mouth) ...
TEETH_SHOW: Final[float] = 0.04
LOWER_TEETH_SHOW: Final[float] = 0.012
# A portrait showing its own upper teeth keeps them; opening the jaw shows this much more
# of their crowns below its own opening, at most a whole crown (fractions of face height).
OWN_TEETH_EXTRA: Final[float] = 0.02
TEETH_CROWN: Final[float] = 0.08
LOWER_TEETH_FROM = 0.06
LOWER_TEETH_RAMP = 0.03
# Height of the lower lip's wet inner face shown once the lips part (fraction of face height).
WET_LIP: Final[float] = 0.012


@functools.cache
def teeth_asset() -> FloatArray:
    """The tooth-row asset ``(4, rows, cols) float32`` RGBA in 0..1."""
    from PIL import Image

    ref = importlib.resources.files("lpm_bridge") / "assets" / "mouth" / "teeth.png"
    with Image.open(io.BytesIO(ref.read_bytes())) as img:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
    return np.ascontiguousarray(rgba.transpose(2, 0, 1))


def _luma(rgb: FloatArray) -> float:
    return float(rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32))


def mouth_box(g: FaceGeometry, size: int) -> npt.NDArray[np.int64]:
    """Fixed output box ``(x0, y0, x1, y1)`` the lips can reach, head motion included."""
    p, w, h = g.landmarks, g.mouth_width, g.height
    margin = 0.1 * size
    x0 = p[lm.MOUTH_CORNER_RIGHT, 0] - 0.4 * w - margin
    x1 = p[lm.MOUTH_CORNER_LEFT, 0] + 0.4 * w + margin
    y0 = p[lm.MOUTH_OUTER, 1].min() - 0.1 * h - margin
    y1 = p[lm.MOUTH_OUTER, 1].max() + (JAW_DROP + 0.12) * h + margin
    box = np.array([x0, y0, x1, y1]).round().astype(np.int64)
    return np.clip(box, 0, size)


# Dense inner-lip curves: points per landmark segment of the Catmull-Rom curve.
LIP_SAMPLES: Final[int] = 4
LIP_POINTS: Final[int] = LIP_SAMPLES * (len(lm.INNER_UPPER) - 1) + 1  # 17


def catmull_rom(n_points: int, per_segment: int) -> FloatArray:
    """``(Q, n_points)`` weights turning points into a smooth curve through them
    (uniform Catmull-Rom, end points repeated)."""
    rows = []
    for seg in range(n_points - 1):
        for j in range(per_segment + (seg == n_points - 2)):
            t = j / per_segment
            w = np.zeros(n_points)
            ids = [max(seg - 1, 0), seg, seg + 1, min(seg + 2, n_points - 1)]
            coef = [(-t + 2 * t**2 - t**3) / 2, (2 - 5 * t**2 + 3 * t**3) / 2,
                    (t + 4 * t**2 - 3 * t**3) / 2, (-(t**2) + t**3) / 2]  # fmt: skip
            for i, c in zip(ids, coef, strict=True):
                w[i] += c
            rows.append(w)
    return np.stack(rows).astype(np.float32)


def lip_curves(g: FaceGeometry) -> FloatArray:
    """Neutral inner-lip curves ``(2, LIP_POINTS, 2)``: upper then lower, corner to corner."""
    w = catmull_rom(len(lm.INNER_UPPER), LIP_SAMPLES)
    p = g.landmarks
    return np.stack([w @ p[list(lm.INNER_UPPER)], w @ p[list(lm.INNER_LOWER)]]).astype(np.float32)


def lip_basis(g: FaceGeometry, disp: FloatArray, curves: FloatArray) -> FloatArray:
    """Forward displacement of the dense lip curves per feature ``(F, 2, LIP_POINTS, 2)``.

    The same Shepard weights as the field, with the upper curve forced to the upper side
    of the seam and the lower curve to the lower side: where the renderer paints the
    mouth interior is then exactly where the warped lips went.
    """
    out = np.zeros((NUM_FEATURES, 2, LIP_POINTS, 2), dtype=np.float32)
    for c in (0, 1):
        xs, ys = curves[c, :, 0].copy(), curves[c, :, 1].copy()
        w = shepard_weights(g, xs, ys, np.full(LIP_POINTS, float(c), dtype=np.float32))
        out[:, c] = np.einsum("nk,fkc->fnc", w, disp)
    # Both curves end at the same inner corners (60, 64) and must keep ending together, so
    # an opening tapers to a point there like a real mouth instead of ending in a step.
    for end in (0, LIP_POINTS - 1):
        out[:, :, end] = out[:, :, end].mean(axis=1, keepdims=True)
    return out


def mouth_colors(image: npt.NDArray[np.uint8], g: FaceGeometry) -> FloatArray:
    """Per-avatar mouth material ``(MOUTH_COLORS, 3)`` in 0..255, from the portrait.

    Everything is lit like the skin and only as colourful as the portrait (a black and
    white photo gets a grey mouth): the cavity a deep red at ``CAVITY_LUMA`` of the skin's
    luma, the tongue a dull pink, the teeth the portrait's own when they show, otherwise
    an off-white at the skin's light. The last row is the portrait's colourfulness
    (0: greyscale .. 1: a normal colour photo), which scales the teeth asset's colour.
    """
    p = g.landmarks

    def sample(points: npt.NDArray[Any]) -> FloatArray:
        xy = np.clip(points.round().astype(int), 0, np.array(image.shape[1::-1]) - 1)
        out: FloatArray = image[xy[:, 1], xy[:, 0]].astype(np.float32)
        return out

    lips = (p[[50, 51, 52, 56, 57, 58]] + p[[61, 62, 63, 67, 66, 65]]) / 2
    lip = np.median(sample(lips), axis=0)
    cheeks = np.concatenate([(p[[1, 2, 3]] + p[[31]]) / 2, (p[[15, 14, 13]] + p[[35]]) / 2])
    skin = np.median(sample(cheeks), axis=0)
    skin_y = max(_luma(skin), 1.0)
    # Colourfulness: the skin's spread across channels relative to its luma (~0.3 for a
    # colour photo of any skin tone, 0 for greyscale).
    chroma = float(np.clip((skin.max() - skin.min()) / skin_y / 0.25, 0.0, 1.0))
    grey = np.ones(3, dtype=np.float32)

    def tint(hue: tuple[float, float, float]) -> FloatArray:
        h = np.asarray(hue, dtype=np.float32)
        out: FloatArray = grey + chroma * (h / _luma(h) - grey)
        return out

    cast = grey + chroma * 0.2 * (skin / skin_y - grey)  # teeth take the light's colour
    teeth = np.array([1.0, 0.98, 0.95], dtype=np.float32) * min(TEETH_LUMA * skin_y, 240.0) * cast
    if g.neutral_gap > 0.025 * g.height:
        inside = p[[61, 62, 63]] + [0.0, 0.3 * g.neutral_gap]
        seen = sample(inside)
        teeth = seen[np.argmax(seen.sum(axis=1))] * 0.97
    cavity = tint(CAVITY_HUE) * CAVITY_LUMA * skin_y
    tongue = tint(TONGUE_HUE) * TONGUE_LUMA * skin_y
    colors = np.stack([cavity, teeth, tongue, lip, np.full(3, chroma, dtype=np.float32)])
    out: FloatArray = np.clip(colors, 0, 255).astype(np.float32)
    return out


# Relief of the head model (fractions of the head half-width). The ellipsoid is kept
# flatter than a real head (~1.0): a 2D warp cannot show what rotation hides, and a flatter
# cheek keeps identity within the 0.30 embedding budget at 15 degrees. The nose is as
# deep as a real one (its tip ~0.45 inter-ocular distances ahead of the eyes), so a turn
# carries it ahead of the face: +-15 deg of yaw moves it 0.25-0.31 inter-ocular distances
# relative to the eyes, re-detected (bench/face_quality.py; 0.10-0.19 with the 0.12 nose
# of before, which the backward map also evaluated beside the nose, see ``nose_map``).
HEAD_DEPTH: Final[float] = 0.5
NOSE_DEPTH: Final[float] = 0.45
HEAD_PIVOT: Final[float] = 0.6
# The nose ridge's depth at the bridge (27), as a fraction of its depth at the tip.
NOSE_BRIDGE: Final[float] = 0.3
# Share of the nose's depth used for pitch: a nose moving up and down across the face
# stretches the upper lip and brow, which moved dlib's identity embedding past 0.30 at
# 15 deg with the full depth; a quarter keeps it as before (0.27 vs 0.29 on the bundled
# portrait) and still tilts visibly.
NOSE_PITCH: Final[float] = 0.25


def head_maps(
    g: FaceGeometry, xs: FloatArray, ys: FloatArray, size: int, nose: bool = True
) -> FloatArray:
    """Masked head coordinates ``(3, N)`` = m * (x - cx, y - cy, z + pivot) at ``xs, ys``.

    Rotating these by a head rotation gives the head warp: an ellipsoid head with a
    nose ridge turning about a pivot behind the face, masked to fade to zero well
    inside the frame so the background bends but never tears. ``nose=False`` leaves
    the nose out: the renderer's dense backward map adds it where the nose *lands*
    (``nose_map``), not where it was, or a turn would carry it no further than the eyes.
    """
    cx, cy, rx, ry = _head_frame(g)
    dx, dy = (xs - cx) / rx, (ys - cy) / ry
    z = HEAD_DEPTH * rx * np.sqrt(np.clip(1 - dx**2 - dy**2, 0, None))
    if nose:
        z += NOSE_DEPTH * rx * _nose_relief(g, xs, ys)
    r = np.sqrt(dx**2 + ((ys - cy + 0.15 * g.height) / ry) ** 2)
    m = _smoothstep(1.9, 1.15, r)
    border = np.minimum(np.minimum(xs, size - 1 - xs), np.minimum(ys, size - 1 - ys))
    m *= _smoothstep(0.0, 0.1 * size, border)
    return np.stack([m * (xs - cx), m * (ys - cy), m * (z + HEAD_PIVOT * rx)]).astype(np.float32)


def _head_frame(g: FaceGeometry) -> tuple[float, float, float, float]:
    """Centre and radii ``(cx, cy, rx, ry)`` of the head ellipsoid, pixels."""
    p = g.landmarks
    rx = 0.55 * float(np.linalg.norm(p[16] - p[0]))
    return float(p[:, 0].mean()), float(p[lm.CHIN, 1] - 0.5 * g.height), rx, 0.75 * g.height


def nose_map(g: FaceGeometry, size: int) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """The nose's depth over a source box: ``(x0, y0, x1, y1)`` and ``(y1 - y0, x1 - x0)``
    pixels of depth in front of the head ellipsoid (``head_maps`` with ``nose=False``
    leaves it out). Zero at the box's edges."""
    p, h = g.landmarks, g.height
    lo = p[27:36].min(axis=0) - np.array([0.12 * h, 0.08 * h])
    hi = p[27:36].max(axis=0) + np.array([0.12 * h, 0.16 * h])
    box = np.clip(np.concatenate([np.floor(lo), np.ceil(hi)]), 0, size - 1).astype(np.int64)
    ys, xs = np.mgrid[box[1] : box[3] + 1, box[0] : box[2] + 1].astype(np.float32)
    rx = _head_frame(g)[2]
    z = NOSE_DEPTH * rx * _nose_relief(g, xs.ravel(), ys.ravel()).reshape(xs.shape)
    # The head mask is 1 this close to the face; only fade the box's own edges to zero.
    edge = np.minimum.reduce([xs - box[0], box[2] - xs, ys - box[1], box[3] - ys])
    z *= _smoothstep(0.0, 3.0, edge)
    return np.array([box[0], box[1], box[2] + 1, box[3] + 1], dtype=np.int64), z.astype(np.float32)


def _nose_relief(g: FaceGeometry, xs: FloatArray, ys: FloatArray) -> FloatArray:
    """The nose as a ridge ``(N,)`` in 0..1: from a little at the bridge (27) to 1 at the
    tip (30), as wide as the nostrils (31-35) at the bottom, gone just below them. The
    whole nose (tip, nostrils, sides) moves as one under a turn, as a real one does."""
    p = g.landmarks
    top, tip = p[27], p[lm.NOSE_TIP]
    base_y = float(p[33, 1])
    length = max(float(base_y - top[1]), 1.0)
    t = np.clip((ys - top[1]) / length, 0.0, None)  # 0 bridge .. 1 nostril base
    along = np.where(t <= 1.0, NOSE_BRIDGE + (1 - NOSE_BRIDGE) * t, 0.0)
    below = np.exp(-(((ys - base_y) / (0.05 * g.height)) ** 2) / 2)
    along = np.where(t > 1.0, below, along) * (ys >= top[1] - 0.05 * g.height)
    ridge_x = np.interp(ys, [top[1], tip[1]], [top[0], tip[0]])
    half_w = 0.25 * float(p[35, 0] - p[31, 0]) + np.clip(t, 0, 1) * 0.35 * float(
        p[35, 0] - p[31, 0]
    )
    across = np.exp(-(((xs - ridge_x) / np.maximum(half_w, 1.0)) ** 2) / 2)
    out: FloatArray = (along * across).astype(np.float32)
    return out


def _smoothstep(edge0: float, edge1: float, x: FloatArray) -> FloatArray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    out: FloatArray = (t * t * (3 - 2 * t)).astype(np.float32)
    return out
