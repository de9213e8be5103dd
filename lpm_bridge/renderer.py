"""The renderer: a fixed ``Appearance`` + motion frames -> video frames of that same face.

Last stage of the LPM design. The renderer never generates pixels of a new face: every
output pixel is a bilinear sample of the one reference portrait, displaced by a field
built from the motion, except inside the parted lips, where a per-avatar mouth interior
(dark cavity, teeth, tongue) is painted. Identity therefore holds by construction.

Per chunk of frames (``motion: (T, 55) float32``):

1. features = the 52 ARKit weights + ``min(mouthClose, jawOpen)``;
2. face field ``(T, 2, R, R)`` = features @ the avatar's field basis (one matmul);
3. head field ``(T, 2, S, S)`` = (R^T - I) @ masked head coordinates (one small bmm);
4. the face field is sampled at the head-displaced positions (composition + upsampling
   in one ``grid_sample``); sliding eyelids and gaze are added analytically at full
   resolution so the lid edge stays sharp, and ``mouthClose`` stretches the portrait's
   own lips over its parted teeth (a remap in the portrait's coordinates);
5. one ``grid_sample`` of the portrait, then the mouth interior is composited in the
   region where the inner lips opened beyond the portrait's own opening.

Frames bound for JPEG are rendered in JPEG's own colour space (``render_batch_ycbcr420``):
the portrait is kept in YCbCr too, luma is sampled at every pixel and chroma once per 2x2
block (at the block's centre), as a 4:2:0 JPEG stores it. Sampling is linear, so this is
the same picture the RGB path gives, converted, at half the float work per pixel, and the
encoder skips its own colour conversion and chroma downsampling.

Intermediates are bounded by a chunk of a few frames, so memory does not grow with the
number of frames rendered (the returned array aside). A ``Renderer`` holds only read-only
tensors, so concurrent calls from several threads are safe.
"""

from __future__ import annotations

import copy
import math
import weakref
from collections.abc import Sequence
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from lpm_bridge import landmarks as lm
from lpm_bridge import rig
from lpm_bridge.appearance import FACE_FRACTION, SUPPORTED_SIZES, Appearance
from lpm_bridge.errors import ConfigError, MotionError
from lpm_bridge.frames import RGB_TO_YCBCR, YCBCR_OFFSET, YCbCr420
from lpm_bridge.motion import BLENDSHAPES, CH, PITCH, ROLL, YAW, validate_motion

# Frames per inner step by output size. Each chunk pays a fixed cost of small ops (lids,
# lips, mouth: ~1.5 ms with a talking mapper's motion), so bigger chunks are cheaper per
# frame, while their intermediates (grids, frames) grow with them: ~30 MB at 256 x 16 and
# 512 x 4. Measured on a 2-core EPYC (bench/render_speed.py, bench/bridge_concurrency.py):
# 16 at 256 is 8-13 % faster per frame than 8. 8 at 512 (~60 MB) is no faster alone and
# slower in the daemon: a lane thread's malloc arena grows in heaps of at most 64 MB, so
# buffers that size are mapped and unmapped per batch (5x the page faults).
DEFAULT_CHUNK: Final[dict[int, int]] = {256: 16, 512: 4}
U8Frames = npt.NDArray[np.uint8]

_BLINK: Final[tuple[int, int]] = (CH["eyeBlinkRight"], CH["eyeBlinkLeft"])  # image-left eye first
# Gaze channels per image eye: (+x, -x, up, down) in image terms.
_GAZE: Final[tuple[tuple[int, int, int, int], ...]] = (
    (CH["eyeLookInRight"], CH["eyeLookOutRight"], CH["eyeLookUpRight"], CH["eyeLookDownRight"]),
    (CH["eyeLookOutLeft"], CH["eyeLookInLeft"], CH["eyeLookUpLeft"], CH["eyeLookDownLeft"]),
)
_EYE_CHANNELS: Final[list[int]] = [*_BLINK, *(c for g in _GAZE for c in g)]
# Both eyes' landmarks: image-left eye (6 points), then image-right (6).
_EYE_POINTS: Final[slice] = slice(lm.EYE_RIGHT.start, lm.EYE_LEFT.stop)
assert lm.EYE_RIGHT.stop == lm.EYE_LEFT.start and lm.EYE_LEFT.stop - lm.EYE_RIGHT.start == 12
# The order the renderer keeps an avatar's field-basis rows in: the channels speech moves
# in every frame first (what a talking-face driver such as our mapper animates, and the
# mouthClose-jaw feature), then the rest. A talking chunk's rows in use are then a prefix,
# which the matmul reads in place; gathering them into a copy per avatar cost a batch of
# many avatars about 3 MB of memory traffic per avatar and frame. Blinks and gaze have no
# rows at all: the rig leaves their fields zero (lids and irises are drawn analytically,
# ``_eye_field``), and each row is 68 KB a frame to read for nothing.
_SPEECH_CHANNELS: Final[tuple[str, ...]] = (
    "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthSmileLeft",
    "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight", "mouthRollLower",
    "mouthRollUpper", "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft",
    "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight", "tongueOut",
    "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
)  # fmt: skip
_FIELD_FIRST: Final[list[int]] = [*(CH[n] for n in _SPEECH_CHANNELS), rig.NUM_FEATURES - 1]
FIELD_ORDER: Final[list[int]] = _FIELD_FIRST + [
    i for i in range(rig.NUM_FEATURES) if i not in _FIELD_FIRST and i not in _EYE_CHANNELS
]
# Runs of at most this many rows of one avatar get their head warp one addmm a row; longer
# runs one baddbmm (as fast per row there, and fewer calls).
_ADDMM_ROWS: Final[int] = 4
# A prefix of basis rows is read in place when it holds at most this many unused rows.
PREFIX_SLACK: Final[int] = 4
# Thickness of the lash line carried by the closing lid, fraction of the eye opening.
LASH: Final[float] = 0.2
# Iris travel at full gaze: fraction of the eye half-length (x) and upper-lid height (y).
GAZE_X: Final[float] = 0.28
GAZE_Y: Final[float] = 0.3


def motion_features(motion: torch.Tensor) -> torch.Tensor:
    """``motion: (T, 55)`` -> rig features ``(T, rig.NUM_FEATURES)``: the 52 weights (with
    mouthClose as a closure fraction) and ``min(mouthClose, jawOpen)``."""
    w = motion[:, BLENDSHAPES].clone()
    close, jaw = w[:, CH["mouthClose"]], w[:, CH["jawOpen"]]
    # ARKit's mouthClose is relative to jawOpen (close == jaw: lips together). The rig
    # splits it: undo the jaw's lip motion (min), and seal the portrait's own parted
    # lips by the closure fraction close / max(jaw, close).
    w[:, CH["mouthClose"]] = close / torch.maximum(torch.maximum(jaw, close), torch.tensor(1e-6))
    return torch.cat([w, torch.minimum(close, jaw)[:, None]], dim=1)


def head_matrices(motion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``motion: (T, 55)`` -> (backward, forward) ``(T, 2, 3)`` = rows x, y of R^T - I, R - I.

    ``R = Ry(yaw) Rx(pitch) Rz(roll)`` acts on (x right, y down, z toward the viewer)
    with the sign conventions of ``lpm_bridge.motion``.
    """
    yaw, pitch, roll = motion[:, YAW], motion[:, PITCH], motion[:, ROLL]
    one, zero = torch.ones_like(yaw), torch.zeros_like(yaw)

    def mat(rows: list[list[torch.Tensor]]) -> torch.Tensor:
        return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)

    cy, sy, cp, sp, cr, sr = yaw.cos(), yaw.sin(), pitch.cos(), pitch.sin(), roll.cos(), roll.sin()
    ry = mat([[cy, zero, sy], [zero, one, zero], [-sy, zero, cy]])
    rx = mat([[one, zero, zero], [zero, cp, -sp], [zero, sp, cp]])  # pitch>0: nose up (-y)
    rz = mat([[cr, sr, zero], [-sr, cr, zero], [zero, zero, one]])  # roll>0: CCW on screen
    r = ry @ rx @ rz
    eye = torch.eye(3, dtype=r.dtype, device=r.device)
    return (r.transpose(1, 2) - eye)[:, :2], (r - eye)[:, :2]


class Renderer:
    """Renders appearances under motion on ``device`` (CPU now, CUDA when present)."""

    def __init__(self, device: str | torch.device = "cpu", *, chunk: int | None = None) -> None:
        self.device = torch.device(device)
        self.chunk = chunk
        self._device_apps: weakref.WeakKeyDictionary[Appearance, _DeviceAppearance] = (
            weakref.WeakKeyDictionary()
        )
        # Identity sampling grids ``(2, S, S)``, shared by every avatar (read-only).
        self._base: dict[int, torch.Tensor] = {}
        for s in SUPPORTED_SIZES:
            axis = torch.linspace(-1.0, 1.0, s)
            ys, xs = torch.meshgrid(axis, axis, indexing="ij")
            self._base[s] = torch.stack([xs, ys]).to(self.device)

    # ------------------------------------------------------------ public API

    def render(self, appearance: Appearance, motion: npt.ArrayLike | torch.Tensor) -> U8Frames:
        """``motion: (T, 55) float32`` -> frames ``(T, S, S, 3) uint8`` RGB of ``appearance``."""
        m = self._validate(motion)
        out = np.empty((len(m), appearance.size, appearance.size, 3), dtype=np.uint8)
        self._render_rows([appearance] * len(m), m, out)
        return out

    def render_batch(
        self, appearances: Sequence[Appearance], motion: npt.ArrayLike | torch.Tensor
    ) -> U8Frames:
        """Row ``b`` of ``motion: (B, 55)`` drawn with ``appearances[b]``: ``(B, S, S, 3) uint8``.

        All appearances must share one output size. Within a chunk, rows of the same
        appearance are warped together (one matmul) and the mouth of every row is painted
        in one batched pass.
        """
        apps, m = self._check_batch(appearances, motion)
        size = apps[0].size if apps else 256
        out = np.empty((len(m), size, size, 3), dtype=np.uint8)
        self._render_rows(apps, m, out)
        return out

    def render_batch_ycbcr420(
        self, appearances: Sequence[Appearance], motion: npt.ArrayLike | torch.Tensor
    ) -> YCbCr420:
        """``render_batch`` in JPEG's colour space (``frames.YCbCr420``), for the encoder.

        The same frames as ``render_batch`` up to 8-bit rounding of the portrait's
        YCbCr and 4:2:0 chroma (each chroma sample is taken at the centre of its 2x2
        block, where a JPEG decoder puts it).
        """
        apps, m = self._check_batch(appearances, motion)
        out = YCbCr420.empty(len(m), apps[0].size if apps else 256)
        self._render_rows(apps, m, out)
        return out

    def prepare(self, appearance: Appearance) -> None:
        """Build the render-side view of ``appearance`` now instead of at its first frame."""
        self._on_device(appearance)

    # ------------------------------------------------------------ internals

    def _on_device(self, app: Appearance) -> _DeviceAppearance:
        """The render-side view of ``app``, built once per (renderer, appearance) and
        dropped with the appearance (weak key). Building it per call cost ~70 us per
        avatar, noticeable when a batch holds 16 avatars. A race between two threads
        builds it twice; both results are equal and read-only."""
        dev = self._device_apps.get(app)
        if dev is None:
            dev = _DeviceAppearance(app, self.device)
            self._device_apps[app] = dev
        return dev

    @staticmethod
    def _validate(motion: npt.ArrayLike | torch.Tensor) -> torch.Tensor:
        if isinstance(motion, torch.Tensor):
            motion = motion.detach().cpu().numpy()
        return torch.from_numpy(validate_motion(motion))

    def _check_batch(
        self, appearances: Sequence[Appearance], motion: npt.ArrayLike | torch.Tensor
    ) -> tuple[list[Appearance], torch.Tensor]:
        m = self._validate(motion)
        if len(appearances) != len(m):
            raise MotionError(
                f"render_batch got {len(appearances)} appearances for {len(m)} motion rows",
                field="motion",
            )
        sizes = {a.size for a in appearances}
        if len(sizes) > 1:
            raise ConfigError(
                f"render_batch needs one output size, got {sorted(sizes)}", field="size"
            )
        return list(appearances), m

    @torch.no_grad()
    def _render_rows(
        self, apps: list[Appearance], m: torch.Tensor, out: U8Frames | YCbCr420
    ) -> None:
        """Row ``i`` of ``m: (N, 55)`` with ``apps[i]`` into ``out`` (``(N, S, S, 3)`` RGB or
        YCbCr 4:2:0 planes), chunked."""
        if not apps:
            return
        most = self.chunk or DEFAULT_CHUNK.get(apps[0].size, 1)
        # Equal chunks (17 rows: 9 + 8, not 16 + 1): each chunk pays the fixed cost of small
        # ops (see DEFAULT_CHUNK), which a one-row tail chunk would pay for a single frame.
        chunk = math.ceil(len(m) / math.ceil(len(m) / most))
        on_device: dict[int, _DeviceAppearance] = {}
        for app in apps:
            if id(app) not in on_device:
                on_device[id(app)] = self._on_device(app)
        planar = isinstance(out, YCbCr420)
        for start in range(0, len(m), chunk):
            rows = [on_device[id(a)] for a in apps[start : start + chunk]]
            frames = self._render_chunk(rows, m[start : start + chunk].to(self.device), planar)
            frames.store(out[start : start + len(rows)])

    def _render_chunk(
        self, apps: list[_DeviceAppearance], m: torch.Tensor, planar: bool = False
    ) -> _Frames:
        """Row ``i`` of ``m: (T, 55)`` with ``apps[i]`` -> float frames (+0.5): RGB
        ``(T, 3, S, S)``, or with ``planar`` Y ``(T, 1, S, S)`` and CbCr ``(T, 2, S/2, S/2)``.

        Rows of different appearances are warped together: small tensors are stacked per
        row; the big ones (portrait, head map, field basis) are read per run of rows of
        one appearance, in place, never copied per row.
        """
        rows = _Rows.of(apps)
        t, s = len(m), rows.size
        feats = motion_features(m)
        back, fwd = head_matrices(m)
        # The head-displaced sampling grid, channels-first: identity + (R^T - I) @ head.
        base = self._base[s]
        if bool(back.abs().max() > 0):
            # One fused matmul-add per run of rows of one avatar, straight from its head
            # map: no per-row copies of (3, S, S) maps when a chunk mixes avatars.
            cf = torch.empty(t, 2, s * s, device=m.device)
            flat = base.view(2, s * s)
            for sl, a in rows.runs:
                k = sl.stop - sl.start
                head = a.head.view(3, s * s)
                if k <= _ADDMM_ROWS:
                    # A short run (a live session's frame or two): one addmm a row. baddbmm
                    # first copies the expanded identity into its output, which for one row
                    # costs more than the product (146 vs 65 us a row at 256).
                    for i in range(sl.start, sl.stop):
                        torch.addmm(flat, back[i], head, out=cf[i])
                else:
                    torch.baddbmm(
                        flat.expand(k, 2, s * s), back[sl], head.expand(k, 3, s * s), out=cf[sl]
                    )
            cf = cf.view(t, 2, s, s)
            _add_nose(rows, back, cf)
        else:
            cf = base.expand(t, 2, s, s).clone()
        if bool(feats.abs().max() > 0):
            _add_face_field(rows, feats, back, cf)
        # A channels-last view, not a copy: grid_sample reads strided grids as fast, and
        # the eyelid and lip remaps below write through it into ``cf``.
        grid = cf.permute(0, 2, 3, 1)
        lids: list[_LidPaint] = []
        if bool(m[:, _EYE_CHANNELS].abs().max() > 0):
            moved = rows.landmarks + torch.bmm(feats[:, None], rows.landmark_basis).view(t, -1, 2)
            moved = moved + torch.bmm(fwd, rows.head_landmarks).transpose(1, 2)
            lids = _eye_field(rows, m, cf, moved)
        for (x0, y0, x1, y1), delta, _ in lids:
            cf[:, :, y0:y1, x0:x1] += delta  # eyelids: full resolution, after the face field
        lips = rows.lips + torch.bmm(feats[:, None], rows.lip_basis).view(t, 2, -1, 2)
        lips = lips + torch.bmm(fwd, rows.head_lips).transpose(1, 2).view(t, 2, -1, 2)
        closure = feats[:, CH["mouthClose"]]
        if bool(closure.max() > 0):
            _close_own_lips(rows, closure, lips, grid)
        # Chroma is sampled once per 2x2 block, at its top-left pixel's position, from a
        # half-resolution chroma texture (``_sample_texture`` maps the position to the
        # block's centre, right for a warp that is locally a translation).
        chroma_grid = grid[:, ::2, ::2] if planar else None
        img = _sample_texture(rows, grid, chroma_grid)
        for box, alpha, skin in ((b, al, sk) for b, _, (al, sk) in lids):
            img.blend(box, alpha, skin[:, :, None, None] + 0.5)
        _paint_mouth(rows, m, lips, img, closure)
        return img


class _Frames:
    """A chunk's sampled frames (float, +0.5): one entry per run of rows of one avatar, each
    its own ``grid_sample`` outputs: RGB ``(k, 3, S, S)``, or Y ``(k, 1, S, S)`` and CbCr
    ``(k, 2, S/2, S/2)`` (planar, JPEG's colour space).

    Never concatenated: gathering the runs into one tensor would cost the copy that aten's
    ``out=`` variant makes (about 65 us a frame at 256, 260 at 512). The lid and mouth
    paints (``blend``) work on small regions gathered across runs and written back.
    """

    def __init__(self, parts: list[tuple[slice, torch.Tensor, torch.Tensor | None]]) -> None:
        self.parts = parts
        self.planar = parts[0][2] is not None

    @property
    def device(self) -> torch.device:
        return self.parts[0][1].device

    def _painted(
        self, alpha: torch.Tensor
    ) -> list[tuple[slice, torch.Tensor, torch.Tensor | None]]:
        """The runs (``parts``) that ``alpha: (T, ...)`` paints anywhere. One reduction for
        the chunk: a run whose alpha is zero (an eye that does not blink) is left alone
        instead of being sliced and blended."""
        if len(self.parts) == 1:
            return self.parts
        painted = (alpha.flatten(1).amax(dim=1) > 0).tolist()
        return [part for part in self.parts if any(painted[part[0]])]

    @staticmethod
    def _regions(
        parts: list[tuple[slice, torch.Tensor, torch.Tensor | None]],
        plane: int,
        box: tuple[int, int, int, int],
    ) -> list[torch.Tensor]:
        """Views of pixels ``box`` of one plane (0: RGB or Y, 1: CbCr) of ``parts``."""
        x0, y0, x1, y1 = box
        views = []
        for _, first, chroma in parts:
            p = first if plane == 0 else chroma
            assert p is not None
            views.append(p[:, :, y0:y1, x0:x1])
        return views

    def blend(
        self, box: tuple[int, int, int, int], alpha: torch.Tensor, color: torch.Tensor
    ) -> None:
        """``pixels += alpha * (color - pixels)`` in ``box``: ``alpha: (T, h, w)``, RGB
        ``color: (T, 3, h, w)`` or ``(T, 3, 1, 1)`` (+0.5 convention).

        Each run's pixels are blended where they are, one ``_foreach`` call over the runs
        (gathering them into one tensor and writing it back cost ~45 us a frame with
        16 one-frame runs at 256)."""
        a = alpha[:, None]
        parts = self._painted(alpha)
        if not parts:
            return
        rows = [sl for sl, _, _ in parts]
        views = self._regions(parts, 0, box)
        if not self.planar:
            torch._foreach_lerp_(views, _split(color, rows), _split(a, rows))
            return
        ycc = _to_ycbcr(color)
        torch._foreach_lerp_(views, _split(ycc[:, :1], rows), _split(a, rows))
        # Chroma: the 2x2 blocks the box touches, each blended by its pixels' mean alpha
        # and mean alpha-weighted colour (zero alpha where the box leaves a block).
        x0, y0, x1, y1 = box
        cbox = (x0 // 2, y0 // 2, (x1 + 1) // 2, (y1 + 1) // 2)
        pad = (x0 - 2 * cbox[0], 2 * cbox[2] - x1, y0 - 2 * cbox[1], 2 * cbox[3] - y1)
        mixed = _block_mean(F.pad(torch.cat([a, a * ycc[:, 1:]], dim=1), pad))
        cviews = self._regions(parts, 1, cbox)
        torch._foreach_mul_(cviews, _split(1.0 - mixed[:, :1], rows))  # c += m1 - m0 c
        torch._foreach_add_(cviews, _split(mixed[:, 1:], rows))

    def store(self, dst: U8Frames | YCbCr420) -> None:
        """Into ``dst``: ``(T, S, S, 3) uint8`` RGB, or planes (planar frames)."""
        for sl, p, c in self.parts:
            if isinstance(dst, YCbCr420):
                assert c is not None
                _store_u8(p[:, 0], dst.y[sl])
                _store_u8(c, dst.cbcr[sl])
            else:
                _store_rgb8(p, dst[sl])


def _split(x: torch.Tensor, rows: list[slice]) -> list[torch.Tensor]:
    """Rows ``rows`` of ``x`` (one tensor per slice; all of ``x`` for one whole slice)."""
    if len(rows) == 1 and rows[0].start == 0 and rows[0].stop == len(x):
        return [x]
    return [x[sl] for sl in rows]


def _block_mean(x: torch.Tensor) -> torch.Tensor:
    """``x: (T, C, 2h, 2w)`` contiguous -> the mean of each 2x2 block, ``(T, C, h, w)``.

    Two adds over views (``avg_pool2d`` is about 10x slower on a CPU)."""
    t, c, h, w = x.shape
    rows = x.view(t, c, h // 2, 2, w)
    pairs = torch.add(rows[:, :, :, 0], rows[:, :, :, 1]).view(t, c, h // 2, w // 2, 2)
    return torch.add(pairs[..., 0], pairs[..., 1]).mul_(0.25)


# RGB_TO_YCBCR and the offset for colours carrying the texture's +0.5 (kept +0.5), per device.
_YCC: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}


def _to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """``rgb: (T, 3, h, w)`` -> YCbCr ``(T, 3, h, w)``, both carrying the texture's +0.5."""
    consts = _YCC.get(rgb.device)
    if consts is None:  # two threads may both build it: equal, either wins
        m = torch.as_tensor(RGB_TO_YCBCR, device=rgb.device)
        off = YCBCR_OFFSET + 0.5 - 0.5 * RGB_TO_YCBCR.sum(1)
        consts = _YCC[rgb.device] = (m, torch.as_tensor(off, device=rgb.device).view(3, 1, 1))
    m, off = consts
    t, _, h, w = rgb.shape
    out = torch.matmul(m, rgb.reshape(t, 3, h * w)).view(t, 3, h, w)
    return out.add_(off)


def _texture_ycbcr420(texture: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``texture: (3, S, S) uint8`` RGB -> YCbCr (JFIF) for 4:2:0 output: luma
    ``(1, S, S) uint8`` and chroma ``(2, S/2, S/2) uint8``, each chroma texel the mean of
    its 2x2 block (what a JPEG encoder stores; a decoder puts it at the block's centre)."""
    ycc = _to_ycbcr(texture.float()[None] + 0.5)[0] - 0.5  # _to_ycbcr keeps the +0.5
    s = texture.shape[-1]
    chroma = ycc[1:].reshape(2, s // 2, 2, s // 2, 2).mean(dim=(2, 4))

    def u8(x: torch.Tensor) -> torch.Tensor:
        return x.round().clamp_(0, 255).to(torch.uint8).contiguous()

    return u8(ycc[:1]), u8(chroma)


def _sample_texture(rows: _Rows, grid: torch.Tensor, chroma_grid: torch.Tensor | None) -> _Frames:
    """Bilinear samples of each row's own portrait at ``grid: (T, S, S, 2)``: RGB
    ``(T, 3, S, S)``, or (``chroma_grid: (T, S/2, S/2, 2)`` given) Y at ``grid`` and CbCr
    at ``chroma_grid``.

    Per run of rows of one avatar: its uint8 portrait is converted into one small float
    buffer (+0.5, so the final float -> uint8 truncation rounds to nearest), which stays
    in cache for the ``grid_sample`` of the run's rows. Reading 1 byte per texel from
    memory instead of 4 is what keeps a batch of many different avatars close to one
    avatar's speed per frame: the same textures kept as floats made 16 avatars x 1 frame
    20 % slower, and one stacked buffer for all runs (one ``grid_sample``) 8 % slower.
    """
    s, dev = rows.size, grid.device
    parts: list[tuple[slice, torch.Tensor, torch.Tensor | None]] = []
    if chroma_grid is None:
        buf = torch.empty(3, s, s, device=dev)
        for sl, a in rows.runs:
            # Done before the next run overwrites ``buf`` (in stream order on a GPU too).
            _to_float(a.texture, buf)
            k = sl.stop - sl.start
            img = F.grid_sample(
                buf.expand(k, -1, -1, -1), grid[sl], "bilinear", "border", align_corners=True
            )
            parts.append((sl, img, None))
        return _Frames(parts)
    # The chroma texture is half-resolution, texel j at the centre of 2x2 block j; a
    # block's top-left pixel sampled at source pixel p wants its centre, p + 0.5, which
    # is texel p / 2: this rescales grid_sample's normalised units (align_corners) to it.
    scale = (s - 1) / (s - 2)
    cgrid = torch.mul(chroma_grid, scale).add_(scale - 1.0)
    # Luma and chroma in one buffer, converted in one pass (fewer ops per run: a batch of
    # one-frame runs pays each op once per frame).
    buf = torch.empty(s * s * 3 // 2, device=dev)
    luma, chroma = buf[: s * s].view(1, s, s), buf[s * s :].view(2, s // 2, s // 2)
    for sl, a in rows.runs:
        _to_float(a.ycc420, buf)
        k = sl.stop - sl.start
        y = F.grid_sample(
            luma.expand(k, -1, -1, -1), grid[sl], "bilinear", "border", align_corners=True
        )
        c = F.grid_sample(
            chroma.expand(k, -1, -1, -1), cgrid[sl], "bilinear", "border", align_corners=True
        )
        parts.append((sl, y, c))
    return _Frames(parts)


def _to_float(texels: torch.Tensor, out: torch.Tensor) -> None:
    """uint8 ``texels`` + 0.5 into float ``out``: a converting copy, then the add (one
    mixed-type add takes 3x as long on a CPU)."""
    out.copy_(texels).add_(0.5)


def _store_u8(img: torch.Tensor, dst: npt.NDArray[np.uint8]) -> None:
    """Float planes (carrying +0.5) -> ``dst`` uint8 of the same shape (see _store_rgb8)."""
    if img.device.type == "cpu":
        np.copyto(dst, img.numpy(), casting="unsafe")
    else:
        torch.from_numpy(dst).copy_(img.to(torch.uint8).cpu())


def _store_rgb8(img: torch.Tensor, dst: U8Frames) -> None:
    """Float frames ``img: (T, 3, S, S)`` (carrying +0.5) -> ``dst: (T, S, S, 3) uint8``.

    The +0.5 makes the truncating cast round to nearest. On a CPU numpy's contiguous
    float -> uint8 cast is vectorised (torch's is about 7x slower, and 2x slower still
    when it also interleaves the channels); the interleave is then a cheap byte shuffle.
    """
    if img.device.type == "cpu":
        u8 = torch.from_numpy(img.numpy().astype(np.uint8))
    else:
        u8 = img.to(torch.uint8).cpu()
    torch.from_numpy(dst).copy_(u8.permute(0, 2, 3, 1))


class _DeviceAppearance:
    """The appearance tensors the renderer reads, on the render device (per call)."""

    def __init__(self, app: Appearance, device: torch.device) -> None:
        d = device
        self.size = app.size
        self.px = 2.0 / (app.size - 1)  # one output pixel in normalised grid units
        self.texture = app.texture.to(d)  # (3, S, S) uint8
        # The same in JPEG's YCbCr, chroma at half resolution: Y (S, S) then CbCr
        # (2, S/2, S/2), flat in one uint8 tensor (see _sample_texture).
        self.ycc420 = torch.cat([p.flatten() for p in _texture_ycbcr420(self.texture)])
        # (F, 2 R R) in FIELD_ORDER: speech channels first (see _add_face_field)
        self.field = app.field.view(app.field.shape[0], -1)[FIELD_ORDER].contiguous().to(d)
        self.rows = int(app.field.shape[-1])
        x0, y0, step = (float(v) for v in app.field_origin)
        # full-frame normalised position -> field-grid normalised position
        scale = 2.0 / (step * (self.rows - 1) * self.px)
        self.field_scale = scale
        self.field_offset = torch.tensor(
            [(1.0 - x0 * self.px) * scale - 1.0, (1.0 - y0 * self.px) * scale - 1.0], device=d
        )
        # Output box of the field grid (pixels) and the largest |head coordinate| per row.
        span = step * (self.rows - 1)
        self.field_box = (x0, y0, x0 + span, y0 + span)
        self.head_extent = app.head_extent.to(d)  # (3,)
        # The eye landmarks (the lids' boxes are built around them; no other landmark is
        # read per frame), their basis (F, 24) and head coordinates (3, 12).
        self.landmarks = app.landmarks[_EYE_POINTS].to(d)
        eye_basis = app.landmark_basis[:, _EYE_POINTS]
        self.landmark_basis = eye_basis.reshape(eye_basis.shape[0], -1).to(d)
        self.head = app.head.to(d)  # (3, S, S)
        self.nose, self.nose_box, self.nose_scale, self.nose_offset = _nose_view(app, d)
        self.head_landmarks = app.head_landmarks[:, _EYE_POINTS].contiguous().to(d)
        self.eyes = app.eyes.to(d)
        self.lips = app.lips.to(d)
        self.lip_basis = app.lip_basis.reshape(app.lip_basis.shape[0], -1).to(d)
        self.head_lips = app.head_lips.to(d)
        self.lip_gap = (app.lips[1] - app.lips[0]).to(d)  # the portrait's own opening
        # The own inner lips' y at every column, and their gap (0 where either is undefined):
        # (S,) each, read by mouthClose's remap (_close_own_lips).
        xs = torch.arange(app.size, dtype=torch.float32, device=d)
        yu, ok_u = _polyline(self.lips[None, 0], xs)
        yl, ok_l = _polyline(self.lips[None, 1], xs)
        self.own_upper = yu[0]
        self.own_gap = ((yl - yu).clamp_min(0) * (ok_u & ok_l))[0]
        self.mouth_colors = app.mouth_colors.to(d) + 0.5  # texture convention, see _render_chunk
        self.height_t = torch.tensor([app.face_height], device=d)
        self.teeth_tip = torch.tensor([_teeth_tip(app)], device=d)
        self.teeth = _teeth_texture(app.size, d)  # shared by every avatar of this size
        # The small per-row tensors, packed into one flat vector that the attributes above
        # become views of: a chunk of many avatars stacks one vector per row (one op)
        # instead of each tensor (14 stacks cost ~20 us a frame with 16 one-frame rows).
        parts = [getattr(self, name) for name in _PACKED]
        self.packed = torch.cat([t.reshape(-1) for t in parts])
        self.layout: list[tuple[str, int, tuple[int, ...]]] = []
        offset = 0
        for name, t in zip(_PACKED, parts, strict=True):
            self.layout.append((name, offset, tuple(t.shape)))
            setattr(self, name, self.packed[offset : offset + t.numel()].view(t.shape))
            offset += t.numel()
        # _Rows of chunks of this avatar alone, by length: read-only views, built once.
        self.rows_by_len: dict[int, _Rows] = {}


def _nose_view(
    app: Appearance, d: torch.device
) -> tuple[torch.Tensor, tuple[int, int, int, int], torch.Tensor, torch.Tensor]:
    """The nose's depth over its source box ``(1, 1, h, w)``, the box, and the affine map
    (scale, offset, each ``(1, 2, 1, 1)``) from full-frame normalised positions to the
    box's normalised positions (see ``_add_nose``)."""
    px = 2.0 / (app.size - 1)
    bx0, by0, bx1, by1 = (int(v) for v in app.nose_box)
    w, h = bx1 - bx0 - 1, by1 - by0 - 1
    scale = torch.tensor([2.0 / (px * w), 2.0 / (px * h)], device=d).view(1, 2, 1, 1)
    offset = torch.tensor(
        [(2.0 / px - 2.0 * bx0) / w - 1.0, (2.0 / px - 2.0 * by0) / h - 1.0], device=d
    ).view(1, 2, 1, 1)
    return app.nose.to(d)[None, None], (bx0, by0, bx1, by1), scale, offset


def _teeth_tip(app: Appearance) -> float:
    """How far below the upper lip the upper tooth tips hang, pixels: ``rig.TEETH_SHOW``,
    or for a portrait showing its own teeth a little below its own opening (its lower
    lip hid the rest of those crowns), at most a whole crown."""
    shown = float((app.lips[1] - app.lips[0])[:, 1].clamp_min(0).max()) / app.face_height
    tip = rig.TEETH_SHOW
    if shown > 0.5 * rig.TEETH_SHOW:
        tip = max(tip, min(shown + rig.OWN_TEETH_EXTRA, rig.TEETH_CROWN))
    return tip * app.face_height


# The per-row tensors of _DeviceAppearance that _Rows stacks, packed into one vector.
_PACKED: Final[tuple[str, ...]] = (
    "field_offset", "head_extent", "landmarks", "landmark_basis", "head_landmarks", "eyes",
    "lips", "lip_basis", "head_lips", "lip_gap", "mouth_colors", "own_upper", "own_gap",
    "height_t", "teeth_tip",
)  # fmt: skip


def _head_reach(rows: _Rows, back: torch.Tensor) -> float:
    """How far (pixels) this chunk's head turn moves any pixel, bounded from the head basis."""
    return float((back.abs() * rows.head_extent[:, None, :]).sum(-1).max()) / rows.px + 2.0


# The nose's depth per axis of the grid (x: yaw, y: pitch; see rig.NOSE_PITCH).
_NOSE_AXES: Final[torch.Tensor] = torch.tensor([1.0, rig.NOSE_PITCH])


def _add_nose(rows: _Rows, back: torch.Tensor, cf: torch.Tensor) -> None:
    """Add the nose's part of the head turn into ``cf: (T, 2, S, S)``, in place.

    The head map the grid was built from leaves the nose out: it is evaluated at *output*
    positions, and a turn carries the whole face ~10-20 px, so a nose bump there would
    land beside the nose and move it no further than the eyes. Here its depth is read
    where each output pixel samples the portrait (the nose's own position), one small
    ``grid_sample`` per run over the nose box grown by the turn's reach.
    """
    reach = _head_reach(rows, back)
    s = rows.size
    for sl, a in rows.runs:
        bx0, by0, bx1, by1 = a.nose_box
        x0, y0 = max(0, int(bx0 - reach)), max(0, int(by0 - reach))
        x1, y1 = min(s, int(bx1 + reach) + 1), min(s, int(by1 + reach) + 1)
        region = cf[sl, :, y0:y1, x0:x1]
        pos = (region * a.nose_scale + a.nose_offset).permute(0, 2, 3, 1)
        k = sl.stop - sl.start
        z = F.grid_sample(
            a.nose.expand(k, -1, -1, -1), pos, "bilinear", "zeros", align_corners=True
        )
        region += (back[sl, :, 2] * _NOSE_AXES.to(cf.device))[:, :, None, None] * z


def _add_face_field(rows: _Rows, feats: torch.Tensor, back: torch.Tensor, cf: torch.Tensor) -> None:
    """Add the face field, sampled at the head-displaced positions, into ``cf: (T, 2, S, S)``.

    Only output pixels that can land inside a field grid are sampled: the field boxes
    grown by this chunk's largest head displacement (bounded from the head basis).
    """
    t, n = len(feats), rows.field_rows
    face = torch.empty(t, 2 * n * n, device=cf.device)
    # Read only the basis rows in use (3.6 MB in all): a talking frame moves a handful
    # of channels, and many-avatar batches read every avatar's rows from memory. Rows
    # are kept in FIELD_ORDER: when the rows in use are (nearly) a prefix, as a talking
    # mapper's are, the matmul reads the prefix in place; otherwise they are gathered.
    feats = feats[:, FIELD_ORDER]
    used = torch.nonzero(feats.abs().amax(dim=0) > 0).flatten()
    if len(used) == 0:  # only lids or gaze move: no field
        return
    k = int(used[-1]) + 1
    prefix = k <= len(used) + PREFIX_SLACK
    few = not prefix and len(used) * 2 < feats.shape[1]
    if prefix:
        feats = feats[:, :k]
    elif few:
        feats = feats[:, used]
    for sl, a in rows.runs:
        basis = a.field
        if prefix:
            basis = basis[:k]
        elif few:
            basis = basis.index_select(0, used)  # not [used]: 5x slower
        torch.matmul(feats[sl], basis, out=face[sl])
    reach = _head_reach(rows, back)
    box = rows.field_box
    x0, y0 = max(0, int(box[0] - reach)), max(0, int(box[1] - reach))
    x1, y1 = min(rows.size, int(box[2] + reach) + 1), min(rows.size, int(box[3] + reach) + 1)
    region = cf[:, :, y0:y1, x0:x1]
    # The field-grid positions channels-first, handed to grid_sample as a channels-last
    # view: computing them straight into a channels-last tensor makes the multiply write
    # with a stride of 2 and read two planes at once: 938 vs 54 us for 6 frames at 256.
    fgrid = torch.empty(t, 2, y1 - y0, x1 - x0, device=cf.device)
    torch.mul(region, rows.field_scale, out=fgrid)
    fgrid += rows.field_offset
    region += F.grid_sample(
        face.view(t, 2, n, n),
        fgrid.permute(0, 2, 3, 1),
        mode="bilinear",
        padding_mode="zeros",
        align_corners=True,
    )


class _Rows:
    """The appearance tensors of a chunk's rows, stacked per row for batched ops.

    When every row has the same appearance the small tensors are expanded views (no
    copies), otherwise stacked. The big ones are never stacked: ``runs`` lists the
    contiguous runs of rows of one appearance, each read from its own tensors.
    """

    @staticmethod
    def of(apps: list[_DeviceAppearance]) -> _Rows:
        """The rows of ``apps``; for one avatar alone, built once per chunk length (about 60
        small ops a chunk otherwise, a tenth of a streaming chunk's fixed cost)."""
        first, t = apps[0], len(apps)
        if any(a is not first for a in apps):
            return _Rows(apps)
        cached = first.rows_by_len.get(t)
        if cached is None:  # two threads may both build it: equal and read-only, either wins
            cached = _Rows(apps)
            cached.runs = []  # the cache holds no reference to its owner: no cycle to collect
            first.rows_by_len[t] = cached
        rows = copy.copy(cached)
        rows.runs = [(slice(0, t), first)]
        return rows

    def __init__(self, apps: list[_DeviceAppearance]) -> None:
        first, t = apps[0], len(apps)
        self.size, self.px, self.field_rows = first.size, first.px, first.rows
        self.field_scale = first.field_scale  # same for every avatar of one size
        same = all(a is first for a in apps)
        # Contiguous runs of rows of one avatar: the big per-avatar tensors (portrait,
        # head map) are read per run, in place, never stacked per row.
        self.runs: list[tuple[slice, _DeviceAppearance]] = []
        start = 0
        for i in range(1, t + 1):
            if i == t or apps[i] is not apps[start]:
                self.runs.append((slice(start, i), apps[start]))
                start = i

        # One (T, N) tensor of every row's packed small tensors (an expanded view for one
        # avatar); each attribute is a view of its columns.
        packed = first.packed.expand(t, -1) if same else torch.stack([a.packed for a in apps])
        cols = {name: (off, shape) for name, off, shape in first.layout}

        def per_row(name: str) -> torch.Tensor:
            off, shape = cols[name]
            return packed[:, off : off + math.prod(shape)].view(t, *shape)

        self.field_offset = per_row("field_offset")[:, :, None, None]  # (T, 2, 1, 1)
        boxes = [a.field_box for a in apps]
        self.field_box = (
            min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[2] for b in boxes), max(b[3] for b in boxes),
        )  # fmt: skip
        self.head_extent = per_row("head_extent")  # (T, 3)
        self.landmarks, self.landmark_basis = per_row("landmarks"), per_row("landmark_basis")
        self.head_landmarks, self.eyes = per_row("head_landmarks"), per_row("eyes")
        self.lips, self.lip_basis, self.head_lips = (
            per_row("lips"), per_row("lip_basis"), per_row("head_lips")
        )  # fmt: skip
        self.gaps, self.colors = per_row("lip_gap"), per_row("mouth_colors")
        self.own_upper, self.own_gap = per_row("own_upper"), per_row("own_gap")  # (T, S)
        self.height = per_row("height_t").view(t)
        self.teeth_tip = per_row("teeth_tip").view(t)
        self.teeth = first.teeth  # (1, 5, h, w), one per output size


def _box_around(points: torch.Tensor, margin: float, size: int) -> tuple[int, int, int, int]:
    """Integer box ``(x0, y0, x1, y1)`` around ``points: (..., 2)`` plus ``margin``, clipped.

    In numpy, in float32 as the points are: a handful of tiny torch ops cost more here.
    """
    flat = points.detach().reshape(-1, 2).cpu().numpy()
    lo = np.clip(np.floor(flat.min(axis=0) - np.float32(margin)), 0, size).astype(int)
    hi = np.clip(np.ceil(flat.max(axis=0) + np.float32(margin)), 0, size).astype(int)
    return int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1])


# (box x0, y0, x1, y1; grid delta (T, 2, rows, cols); (alpha (T, rows, cols), skin (T, 3)))
_LidPaint = tuple[tuple[int, int, int, int], torch.Tensor, tuple[torch.Tensor, torch.Tensor]]
# How much of the lid a blink covers is repainted with the avatar's lid skin colour: the
# stretched lid crease and eye shadow otherwise read as a smudge ...
LID_SKIN: Final[float] = 0.55
# ... over the opening and this fraction of the lid above it, at full closure.
LID_COVER: Final[float] = 0.5
# Closed lids meet this fraction of the way up the opening: the lower lid rises a little
# to meet the upper one, covering its own margin (LOWER_MARGIN lash widths below it), so
# a closed eye is one lash line between skin, not a slit.
LOWER_RISE: Final[float] = 0.15
LOWER_MARGIN: Final[float] = 1.0


def _eye_field(
    rows: _Rows, m: torch.Tensor, cf: torch.Tensor, moved: torch.Tensor
) -> list[_LidPaint]:
    """Sliding-eyelid and gaze displacement for each eye box, from the grid ``cf: (T, 2, S, S)``
    (channels-first: x and y planes are read and written as rows, not interleaved pairs)
    and the moved eye landmarks ``moved: (T, 12, 2)`` (image-left eye first).

    The lid is an occluding edge: above the moving lid line the output samples lid skin
    stretched down from above the eye (lashes carried unstretched at its edge); below it
    the eye is untouched. Evaluated at full resolution at the head-displaced positions
    so the edge stays sharp. Returns per eye the grid delta and where to repaint the
    newly covered part with lid skin (after sampling). Parameters are per row.

    Both eyes are evaluated in one pass over boxes of one shape (the larger eye's): the
    field is zero outside each eye's own box, and a chunk's fixed cost is mostly the
    number of small ops, which this halves.
    """
    lid_heights = rows.eyes[:, :, rig.EYE_LID].amax(dim=0).tolist()  # per eye, pixels
    boxes = [
        _box_around(moved[:, eye], lid + 3.0, rows.size)
        for eye, lid in zip((slice(0, 6), slice(6, 12)), lid_heights, strict=True)
    ]
    eyes = [e for e, (x0, y0, x1, y1) in enumerate(boxes) if x1 > x0 and y1 > y0]
    if not eyes:
        return []
    w = max(boxes[e][2] - boxes[e][0] for e in eyes)
    h = max(boxes[e][3] - boxes[e][1] for e in eyes)
    # Grow each box to (w, h), staying inside the frame (a frame is larger than any eye).
    origins = [(min(x0, rows.size - w), min(y0, rows.size - h)) for x0, y0, _, _ in boxes]
    grown = [(x0, y0, x0 + w, y0 + h) for x0, y0 in origins]
    pos = torch.stack([cf[:, :, b[1] : b[3], b[0] : b[2]] for b in (grown[e] for e in eyes)], 1)
    pos = (pos + 1.0) / rows.px  # (T, E, 2, h, w) source pixels
    p = rows.eyes[:, eyes]  # (T, E, EYE_PARAMS)
    cx, cy, ux, uy, half, h_up, h_lo, lid = (p[:, :, i, None, None] for i in range(8))
    px, py = pos[:, :, 0] - cx, pos[:, :, 1] - cy
    u = (px * ux + py * uy) / half
    v = px * uy - py * ux  # along the on-screen "up" of the eye axis
    prof = (1 - u * u).clamp_min(0)
    k = m[:, [_BLINK[e] for e in eyes], None, None]  # (T, E, 1, 1)
    vu, vl = h_up * prof, -h_lo * prof
    # The lids meet LOWER_RISE of the way up the opening: the upper lid slides down to it,
    # the lower lid rises to it.
    v_meet = vl + LOWER_RISE * (vu - vl)
    v_lid = vu - k * (vu - v_meet)
    v_low = vl + k * (v_meet - vl)
    v_top = vu + lid * prof
    lash = LASH * (h_up + h_lo) * prof
    above = v - v_lid - lash
    v_src = torch.where(
        above <= 0,
        vu + (v - v_lid),
        vu + lash + above * (v_top - vu - lash) / (v_top - v_lid - lash + 1e-4),
    )
    inside = (v >= v_lid) & (v <= v_top) & (prof > 0)
    dv = torch.where(inside, v_src - v, torch.zeros_like(v))
    gz = m[:, [c for e in eyes for c in _GAZE[e]]].view(len(m), len(eyes), 4, 1, 1)
    gx = (gz[:, :, 0] - gz[:, :, 1]) * GAZE_X * half
    gy = (gz[:, :, 3] - gz[:, :, 2]) * GAZE_Y * h_up
    win = prof * prof * ((v - v_low) / 1.5).clamp(0, 1) * ((v_lid - v) / 1.5).clamp(0, 1)
    delta = torch.stack([dv * uy - gx * win, -dv * ux - gy * win], dim=2) * rows.px
    lines = _LidLines(v, vu, vl, v_lid, v_low, v_top, lash, k)
    alpha = LID_SKIN * _lid_cover(lines, 1.5 * rows.size / 256) * (prof > 0)
    skin = p[:, :, rig.EYE_SKIN]
    return [(grown[e], delta[:, i], (alpha[:, i], skin[:, i])) for i, e in enumerate(eyes)]


class _LidLines(NamedTuple):
    """Heights along an eye's "up" axis over its box ``(T, E, h, w)``, pixels: each
    pixel's own (``v``), the open lids (``vu``, ``vl``), the moving upper and lower lids,
    the top of the lid skin, the lash line's width; and the blink ``k`` ``(T, E, 1, 1)``."""

    v: torch.Tensor
    vu: torch.Tensor
    vl: torch.Tensor
    v_lid: torch.Tensor
    v_low: torch.Tensor
    v_top: torch.Tensor
    lash: torch.Tensor
    k: torch.Tensor


def _lid_cover(n: _LidLines, feather: float) -> torch.Tensor:
    """Where a blink repaints the eye with lid skin, 0..1 ``(T, E, h, w)``: the part of
    the eye the upper lid now covers (between its lashes and the old lid line) and up the
    stretched lid as it closes, fading out (a stretched crease, eye shadow and lashes
    read as a smudge); and the risen lower lid over its own margin, so one lash line is
    left."""
    covered = ((n.v - n.v_lid - 1.5 * n.lash) / feather).clamp(0, 1)
    reach = LID_COVER * n.k * (n.v_top - n.vu)
    covered = covered * ((n.vu + 0.5 + reach - n.v) / (feather + reach)).clamp(0, 1)
    lower = ((n.v_low - n.v) / feather).clamp(0, 1)
    lower = lower * ((n.v - n.vl + LOWER_MARGIN * n.lash) / feather).clamp(0, 1)
    return torch.maximum(covered, lower) * (4 * n.k).clamp(max=1)


# Lip material stretched over a portrait's own opening by mouthClose: how much of the lip
# (and the skin beyond it), as a fraction of the face height, is stretched per side.
LIP_STRETCH: Final[float] = 0.05
# Each lip covers this fraction of the own opening at mouthClose = 1 (> 0.5: they meet
# with a little overlap, so no sliver of teeth is left between them).
CLOSE_OVERLAP: Final[float] = 0.6


def _close_own_lips(
    rows: _Rows, closure: torch.Tensor, lips: torch.Tensor, grid: torch.Tensor
) -> None:
    """Seal the portrait's own parted lips (``mouthClose``) in ``grid: (T, S, S, 2)``.

    A vertical remap in the portrait's own coordinates, after every other warp: per source
    column with own inner lips ``yu < yl`` (gap ``g``), the upper lip band
    ``[yu - L, yu]`` is stretched down over ``[yu - L, yu + c g / 2]``, the lower lip band
    likewise up, and the teeth between are squeezed into what is left (nothing at
    ``c = 1``). Only the lips' own material covers the teeth: the mouth corners, the
    smile, cheeks and chin stay exactly where they were.
    """
    size, px = rows.size, rows.px
    c = closure[:, None, None]
    reach = LIP_STRETCH * float(rows.height.max()) + 3.0
    x0, y0, x1, y1 = _box_around(lips, reach, size)
    if x1 <= x0 or y1 <= y0:
        return
    region = grid[:, y0:y1, x0:x1]
    sx = ((region[..., 0] + 1.0) / px).round().clamp(0, size - 1).long().flatten(1)
    shape = region.shape[:3]
    yu = rows.own_upper.gather(1, sx).view(shape)
    g = rows.own_gap.gather(1, sx).view(shape)
    yl = yu + g
    sy = (region[..., 1] + 1.0) / px
    lip = LIP_STRETCH * rows.height[:, None, None]
    half = c * g * CLOSE_OVERLAP
    up_band = (sy >= yu - lip) & (sy < yu + half)
    lo_band = (sy > yl - half) & (sy <= yl + lip)
    mid = (sy >= yu + half) & (sy <= yl - half)
    new = torch.where(up_band, yu - lip + (sy - yu + lip) * lip / (lip + half), sy)
    new = torch.where(lo_band, yl + lip - (yl + lip - sy) * lip / (lip + half), new)
    squeezed = yu + (sy - yu - half) * g / (g - 2 * half).clamp_min(1e-3)
    new = torch.where(mid & (g > 0), squeezed.clamp(max=yl), new)
    region[..., 1] += (new - sy) * px


def _polyline(points: torch.Tensor, xs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """y of polylines ``points: (T, P, 2)`` (x increasing) at columns ``xs: (N,)``.

    Returns ``(y, valid)``, both ``(T, N)``; ``valid`` is false left/right of the ends.
    """
    xa, xb = points[:, :-1, 0:1], points[:, 1:, 0:1]  # (T, P-1, 1)
    ya, yb = points[:, :-1, 1:2], points[:, 1:, 1:2]
    tt = (xs - xa) / (xb - xa).clamp_min(1e-3)
    seg = (tt >= 0) & (tt < 1)
    y = (seg * (ya + tt.clamp(0, 1) * (yb - ya))).sum(dim=1)
    valid = (xs >= points[:, :1, 0]) & (xs <= points[:, -1:, 0])
    return y, valid


def _paint_mouth(
    a: _Rows, m: torch.Tensor, lips: torch.Tensor, img: _Frames, closure: torch.Tensor
) -> None:
    """Composite the mouth interior into ``img`` (``(T, 3, S, S)`` float), in place.

    Painted only between the portrait's own inner-lip opening (moved with the upper lip)
    and the moved lower inner lip, so a neutral frame is untouched (see ``_mouth_color``
    for what is painted).
    """
    # mouthClose has stretched each lip over half of the closed part of the own opening.
    c = closure[:, None, None]
    upper, lower = lips[:, 0] + a.gaps * (c / 2), lips[:, 1] - a.gaps * (c / 2)
    start = upper + a.gaps * (1 - c)
    if bool((lower[:, :, 1] - start[:, :, 1]).max() < 0.25):
        return
    x0, y0, x1, y1 = _box_around(torch.cat([upper, lower]), 2.0, a.size)
    if x1 <= x0 or y1 <= y0:
        return
    xs = torch.arange(x0, x1, dtype=torch.float32, device=img.device)
    ys = torch.arange(y0, y1, dtype=torch.float32, device=img.device)[None, :, None]
    t = len(m)
    ys3, ok3 = _polyline(torch.cat([start, upper, lower]), xs)  # one pass for the three lines
    lip_up = ys3[t : 2 * t, None, :]
    top, valid = torch.maximum(ys3[:t, None, :], lip_up), ok3[:t]
    bottom = ys3[2 * t :, None, :]
    alpha = (ys - top).clamp(0, 1) * (bottom - ys).clamp(0, 1) * valid[:, None, :]
    lines = _MouthLines(xs, ys, lip_up, bottom, upper[:, :1, 0:1], upper[:, -1:, 0:1])
    img.blend((x0, y0, x1, y1), alpha, _mouth_color(a, m, lines))


class _MouthLines(NamedTuple):
    """Where the mouth is, per row of a chunk, over the painted box."""

    xs: torch.Tensor  # (W,) box columns, pixels
    ys: torch.Tensor  # (1, H, 1) box rows, pixels
    lip_up: torch.Tensor  # (T, 1, W) the moved upper inner lip
    bottom: torch.Tensor  # (T, 1, W) the moved lower inner lip
    left: torch.Tensor  # (T, 1, 1) the moved inner mouth corners
    right: torch.Tensor


def _mouth_color(a: _Rows, m: torch.Tensor, k: _MouthLines) -> torch.Tensor:
    """The interior ``(T, 3, H, W)`` float colour under the mouth box.

    A dark cavity, deepest at the back under the upper teeth and toward the corners; a
    tongue low on its floor once the jaw is open (raised by ``tongueOut``); a hint of the
    lower tooth row above the lower lip when the jaw opens wide, and the lower lip's wet
    inner face; the upper row hanging from the upper lip, its tips ``rig.TEETH_SHOW``
    below it. Teeth are the real tooth row of ``rig.teeth_asset`` in this portrait's light
    and colourfulness; everything else is shaded from the avatar's ``mouth_colors``.
    """
    h = a.height[:, None, None]  # (T, 1, 1)
    cx, half = (k.left + k.right) / 2, ((k.right - k.left) / 2).clamp_min(1.0)
    uu = ((k.xs - cx) / half).clamp(-1, 1)  # (T, 1, W): -1 .. 1 corner to corner
    corner = (1 - uu * uu).sqrt()  # 1 in the middle, 0 at the corners
    span = (k.bottom - k.lip_up).clamp_min(1e-3)  # lip to lip, per column
    open_ = ((span - 0.03 * h) / (0.05 * h)).clamp(0, 1)  # how far the floor shows
    tg = m[:, CH["tongueOut"], None, None]  # (T, 1, 1)
    color = _cavity(a, k, uu, corner, span, open_, tg)
    upper_t, lower_t = _sample_teeth(a, k, h, cx)
    teeth = a.colors[:, rig.TEETH, :, None, None]
    chroma = 0.6 * (a.colors[:, rig.CHROMA, :1, None, None] - 0.5)  # (T, 1, 1, 1)
    light = (rig.TEETH_CORNER_LIGHT + (1 - rig.TEETH_CORNER_LIGHT) * corner)[:, None]
    under_lip = ((k.ys - k.lip_up) / (0.015 * h)).clamp(0, 1)[:, None]
    shadow = rig.TEETH_LIP_SHADOW + (1 - rig.TEETH_LIP_SHADOW) * under_lip
    keep = 1 - tg[:, None]  # a tongue out covers the lower teeth
    for row, lit, cover in ((lower_t, 0.72 * light * keep, keep), (upper_t, shadow * light, 1.0)):
        # Premultiplied: colour = luma + chroma residual, times this portrait's teeth.
        rgb = (row[:, :1] + chroma * row[:, 1:4]) * teeth * lit
        color = color * (1 - row[:, 4:] * cover) + rgb
    # The lower lip's wet inner face, a band of lip over the lower teeth's edge.
    wet = ((k.ys - k.bottom + rig.WET_LIP * h * open_) / 1.0).clamp(0, 1)[:, None]
    color = color + wet * (a.colors[:, rig.LIP, :, None, None] * 0.95 - color)
    return color.clamp_(0.0, 255.5)  # bright teeth in a bright portrait: no uint8 wrap


def _cavity(
    a: _Rows,
    k: _MouthLines,
    uu: torch.Tensor,
    corner: torch.Tensor,
    span: torch.Tensor,
    open_: torch.Tensor,
    tg: torch.Tensor,
) -> torch.Tensor:
    """The dark inside of the mouth and the tongue on its floor ``(T, 3, H, W)``."""
    cav = a.colors[:, rig.CAVITY, :, None, None]
    tongue = a.colors[:, rig.TONGUE, :, None, None]
    depth = ((k.ys - k.lip_up) / span).clamp(0, 1)  # (T, H, W): 0 upper lip .. 1 lower lip
    # Deepest at the back (under the upper teeth), lit a little toward the lower lip.
    shade = (0.5 + 0.9 * depth * depth) * (0.4 + 0.6 * corner)
    color = cav * shade[:, None]
    # A mound, lower toward the sides; tongueOut raises it to 0.8 of the opening.
    rise = rig.TONGUE_RISE + (0.8 - rig.TONGUE_RISE) * tg
    crest = k.bottom - span * rise * (1 - 0.7 * uu * uu)
    on = ((k.ys - crest) / 1.5).clamp(0, 1) * torch.maximum(open_, tg) * corner
    lit = 0.7 + 0.5 * ((k.ys - crest) / (k.bottom - crest).clamp_min(1.0)).clamp(0, 1)
    return color + on[:, None] * (tongue * lit[:, None] - color)


def _sample_teeth(
    a: _Rows, k: _MouthLines, h: torch.Tensor, cx: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The upper and lower tooth rows over the box, premultiplied ``(T, 5, H, W)`` each:
    luma, chroma residual (3), alpha (``_teeth_texture``). One ``grid_sample`` for both."""
    tex = a.teeth
    rows, cols = rig.teeth_asset().shape[1:]
    span = rig.TEETH_SPAN * h  # (T, 1, 1) pixels across the row
    px = span / cols  # output pixels per asset pixel
    hang = rig.TEETH_TIP_ROW * px - a.teeth_tip[:, None, None]
    # The lower row (narrower, flipped) shows above the lower lip once the jaw is wide open.
    wide = ((k.bottom - k.lip_up - rig.LOWER_TEETH_FROM * h) / (rig.LOWER_TEETH_RAMP * h)).clamp(
        0, 1
    )
    lo_px = 0.85 * px
    lo_hang = rig.TEETH_TIP_ROW * lo_px - rig.LOWER_TEETH_SHOW * h * wide
    gy_up = 2 * (k.ys - k.lip_up + hang) / (rows * px) - 1
    gy_lo = 2 * (k.bottom - k.ys + lo_hang) / (rows * lo_px) - 1
    shape = (len(h), k.ys.shape[1], len(k.xs))
    gx_up = (2 * (k.xs - cx) / span).expand(shape)
    gx_lo = gx_up / 0.85
    grid = torch.stack([torch.cat([gx_up, gx_lo], 1), torch.cat([gy_up, gy_lo], 1)], -1)
    both = F.grid_sample(
        tex.expand(len(h), -1, -1, -1), grid, "bilinear", "zeros", align_corners=False
    )
    return both[:, :, : shape[1]], both[:, :, shape[1] :]


# The tooth-row asset prefiltered for one output size, per (size, device): premultiplied
# luma, chroma residual (3) and alpha ``(1, 5, h, w)``, the teeth's brightness at 1.
_TEETH: dict[tuple[int, torch.device], torch.Tensor] = {}


def _teeth_texture(size: int, device: torch.device) -> torch.Tensor:
    """``rig.teeth_asset`` at the scale it is drawn at ``size`` (an aligned face is
    ``FACE_FRACTION * size`` tall), so bilinear sampling does not alias."""
    key = (size, device)
    tex = _TEETH.get(key)
    if tex is None:  # two threads may both build it: equal, either wins
        rgba = torch.from_numpy(rig.teeth_asset())
        rows, cols = rgba.shape[1:]
        scale = rig.TEETH_SPAN * FACE_FRACTION * size / cols
        rgb, alpha = rgba[:3], rgba[3:]
        luma = torch.einsum("c,chw->hw", torch.tensor([0.299, 0.587, 0.114]), rgb)[None]
        ref = torch.quantile(luma[alpha > 0.5], 0.9)  # the teeth's own brightness -> 1
        chans = torch.cat([luma / ref, rgb / ref - luma / ref, torch.ones_like(alpha)]) * alpha
        out_hw = (max(4, round(rows * scale)), max(8, round(cols * scale)))
        tex = F.interpolate(chans[None], size=out_hw, mode="bilinear", antialias=True)
        tex = _TEETH[key] = tex.to(device)
    return tex


def psnr(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 images."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)
