"""The appearance encoder: one portrait in, one fixed ``Appearance`` out, once per avatar.

In the LPM design appearance and motion are separate: this module reads the reference
portrait exactly once (decode, find the face with dlib, align and crop it, fit the face
rig) and packages everything the renderer needs into a typed, immutable ``Appearance``.
The renderer only ever *warps* this fixed appearance, so identity cannot drift.

Output is an aligned face crop: the portrait is rotated so the eyes are level and scaled
so the brow-to-chin height is ``FACE_FRACTION`` of the square frame (hair, neck and
background around it). An ``Appearance`` is saved as safetensors keyed by the sha256 of
the original image bytes, so a registered avatar reloads in milliseconds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import io
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image, ImageFilter, ImageOps

from lpm_bridge import landmarks as lm
from lpm_bridge import rig
from lpm_bridge.errors import (
    CheckpointError,
    FaceTooSmallError,
    ImageError,
    NoFaceError,
    NotFoundError,
)

MAX_IMAGE_BYTES: Final[int] = 20 * 1024 * 1024  # 20 MiB of encoded image
# Declared size limit, checked on the header before decoding: PNG and WebP decode whole, so
# this bounds a portrait's decode cost (a 4096x4096 PNG: ~0.3 s, 50 MB) and covers a 12 MP
# phone photo (4032x3024). 40 MP let a 151 KB PNG cost 1.3-1.9 s and 110-570 MB (issue 18).
MAX_IMAGE_SIDE: Final[int] = 4096
MAX_IMAGE_PIXELS: Final[int] = MAX_IMAGE_SIDE * MAX_IMAGE_SIDE  # 16.8 MP
# Portraits are decoded no larger than this on the long side (integer box downscale; JPEG
# in the DCT domain): the face needs ~215 px at 512 and detection runs at 1024 anyway.
DECODE_MAX_SIDE: Final[int] = 2048
MIN_FACE_PX: Final[int] = 64  # detector box height in the portrait
SUPPORTED_SIZES: Final[tuple[int, ...]] = (256, 512)
SUPPORTED_FORMATS: Final[tuple[str, ...]] = ("JPEG", "PNG", "WEBP")
# Brow-to-chin height of the face as a fraction of the output frame.
FACE_FRACTION: Final[float] = 0.42
# Where the brow-to-chin midpoint lands in the frame (fractions of width, height).
FACE_CENTER: Final[tuple[float, float]] = (0.5, 0.55)
# Detection runs on a copy no larger than this (pixels on the long side): fast, and
# faces below MIN_FACE_PX in the original stay findable with one upsampling.
DETECT_MAX_SIDE: Final[int] = 1024
FORMAT_VERSION: Final[str] = "6"

U8Image = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False)  # identity semantics: hashable, never compares tensors
class Appearance:
    """Everything the renderer needs about one avatar at one output size.

    Tensors (CPU, ``S = size``; ``F = rig.NUM_FEATURES``; ``R = field rows = cols``):

    * ``image``: ``(S, S, 3) uint8`` the aligned portrait crop (the neutral frame);
    * ``landmarks``: ``(68, 2) float32`` dlib landmarks in output pixels;
    * ``points``: ``(76, 2) float32`` rig control points (landmarks + virtual points);
    * ``field``: ``(F, 2, R, R) float32`` backward displacement per feature, in
      grid_sample's normalised units (2 / (S - 1) per pixel);
    * ``field_origin``: ``(3,) float32`` x0, y0, step of the field grid, pixels;
    * ``landmark_basis``: ``(F, 68, 2) float32`` forward landmark displacement per feature;
    * ``head``: ``(3, S, S) float32`` masked head coordinates (``rig.head_maps``) in
      grid_sample's normalised units: one small matmul gives a frame's head warp;
      The nose is left out of ``head`` (see ``rig.head_maps``):
    * ``nose``: ``(h, w) float32`` the nose's depth over ``nose_box`` ``(4,) int64``
      (x0, y0, x1, y1 source pixels), in grid_sample's normalised units;
    * ``head_landmarks``: ``(3, 68) float32`` the same at the landmarks (nose included),
      pixels;
    * ``eyes``: ``(2, 11) float32`` eyelid parameters (``rig.eye_params``);
    * ``lips``: ``(2, 17, 2) float32`` dense inner-lip curves (upper, lower), pixels;
      ``lip_basis``: ``(F, 2, 17, 2) float32`` their forward displacement per feature;
      ``head_lips``: ``(3, 34) float32`` head coordinates at those points, pixels;
    * ``mouth_box``: ``(4,) int64``;
      ``mouth_colors``: ``(rig.MOUTH_COLORS, 3) float32`` (``rig.mouth_colors``);
    * ``triangles``: ``(M, 3) int64`` the mesh over ``points`` and the frame border.
    """

    size: int
    content_hash: str
    image: torch.Tensor
    landmarks: torch.Tensor
    points: torch.Tensor
    field: torch.Tensor
    field_origin: torch.Tensor
    landmark_basis: torch.Tensor
    head: torch.Tensor
    nose: torch.Tensor
    nose_box: torch.Tensor
    head_landmarks: torch.Tensor
    eyes: torch.Tensor
    lips: torch.Tensor
    lip_basis: torch.Tensor
    head_lips: torch.Tensor
    mouth_box: torch.Tensor
    mouth_colors: torch.Tensor
    triangles: torch.Tensor
    #: ``(3, S, S) uint8`` the portrait channels-first, as the renderer samples it (derived,
    #: not saved): 4x smaller than float, converted per chunk into a small cache-hot buffer
    texture: torch.Tensor = dataclasses.field(init=False, repr=False, compare=False)
    #: ``(3,) float32`` largest |head coordinate| per row of ``head`` (derived, not saved)
    head_extent: torch.Tensor = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "texture", self.image.permute(2, 0, 1).contiguous())
        # Largest |head coordinate| per row: bounds how far a head turn moves any pixel
        # (the nose's depth added to z, where it lies in front of the head).
        extent = self.head.abs().amax(dim=(1, 2))
        extent[2] += self.nose.abs().max()
        object.__setattr__(self, "head_extent", extent)

    @property
    def nbytes(self) -> int:
        """Memory held by this appearance's tensors."""
        return sum(t.element_size() * t.nelement() for t in self._tensors().values()) + int(
            self.texture.element_size() * self.texture.nelement()
        )

    @property
    def face_height(self) -> float:
        return lm.face_height(self.landmarks.numpy())

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {k: getattr(self, k) for k in _TENSOR_FIELDS}

    def save(self, path: str | Path) -> None:
        """Write to ``path`` as safetensors (metadata: size, content hash, format)."""
        from safetensors.torch import save_file

        meta = {"size": str(self.size), "content_hash": self.content_hash, "format": FORMAT_VERSION}
        save_file({k: v.contiguous() for k, v in self._tensors().items()}, str(path), metadata=meta)

    @classmethod
    def load(cls, path: str | Path) -> Appearance:
        """Read an appearance written by :meth:`save`."""
        from safetensors import safe_open

        p = Path(path)
        if not p.is_file():
            raise NotFoundError(f"appearance file {p} does not exist", field="path")
        try:
            with safe_open(str(p), framework="pt") as f:
                meta = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        except Exception as e:  # safetensors raises several types for a bad file
            raise CheckpointError(
                f"{p} is not a readable appearance file: {e}", field="path"
            ) from e
        missing = [k for k in _TENSOR_FIELDS if k not in tensors]
        if meta.get("format") != FORMAT_VERSION or missing:
            raise CheckpointError(
                f"{p} is not an lpm-bridge appearance (format {meta.get('format')!r}, "
                f"missing {missing[:3]}); re-encode the portrait",
                field="path",
            )
        return cls(size=int(meta["size"]), content_hash=meta["content_hash"], **tensors)


_TENSOR_FIELDS: Final[tuple[str, ...]] = (
    "image", "landmarks", "points", "field", "field_origin", "landmark_basis", "head",
    "nose", "nose_box", "head_landmarks", "eyes", "lips", "lip_basis", "head_lips", "mouth_box",
    "mouth_colors", "triangles",
)  # fmt: skip


# ---------------------------------------------------------------- decoding


def read_image_bytes(image: bytes | str | Path) -> bytes:
    """The encoded bytes of ``image`` (bytes as given, or a file's contents)."""
    if isinstance(image, bytes | bytearray | memoryview):
        data = bytes(image)
    else:
        path = Path(image)
        if not path.is_file():
            raise ImageError(f"portrait file {path} does not exist", field="image")
        if path.stat().st_size > MAX_IMAGE_BYTES:
            raise ImageError(_too_big_bytes(path.stat().st_size), field="image")
        data = path.read_bytes()
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(_too_big_bytes(len(data)), field="image")
    if not data:
        raise ImageError(
            "portrait is empty (0 bytes); send a JPEG, PNG or WebP image", field="image"
        )
    return data


def _too_big_bytes(n: int) -> str:
    return (
        f"portrait is {n / 2**20:.1f} MiB; the limit is {MAX_IMAGE_BYTES // 2**20} MiB "
        "(a 2000 px JPEG is plenty)"
    )


def decode_image(data: bytes) -> U8Image:
    """Decode JPEG/PNG/WebP bytes to ``(H, W, 3) uint8`` RGB, honouring EXIF orientation.

    The header is read first and an image over ``MAX_IMAGE_PIXELS`` is refused before a
    pixel is decoded; one larger than ``DECODE_MAX_SIDE`` comes back box-downscaled by an
    integer factor (a JPEG is decoded at 1/2, 1/4 or 1/8 scale directly), so a 151 KB PNG
    declaring 6300x6300 costs nothing and a 12 MP photo costs ~0.1 s.
    """
    img = _open_header(data)
    w, h = img.size
    if w * h > MAX_IMAGE_PIXELS or w < 1 or h < 1:
        raise ImageError(
            f"portrait is {w}x{h} = {w * h / 1e6:.1f} MP; the limit is "
            f"{MAX_IMAGE_PIXELS / 1e6:.1f} MP (e.g. {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE}); "
            f"a face needs no more than {DECODE_MAX_SIDE} px on the long side",
            field="image",
        )
    factor = math.ceil(max(w, h) / DECODE_MAX_SIDE)
    if factor > 1 and img.format == "JPEG":
        img.draft(None, (math.ceil(w / factor), math.ceil(h / factor)))  # DCT-domain scaling
    try:
        img.load()
        ImageOps.exif_transpose(img, in_place=True)  # no copy of an upright image
    except Exception as e:  # truncated files raise OSError deep inside the decoder
        raise ImageError(
            f"portrait {img.format} data is truncated or corrupt ({e})", field="image"
        ) from e
    rgb = _flatten(img)
    factor = math.ceil(max(rgb.size) / DECODE_MAX_SIDE)
    if factor > 1:
        rgb = rgb.reduce(factor)  # box filter: no aliasing, one pass over the pixels
    return np.asarray(rgb, dtype=np.uint8)


def _open_header(data: bytes) -> Image.Image:
    """The JPEG/PNG/WebP in ``data`` with only its header parsed (no pixels decoded).

    ``Image.open`` is not used for the supported formats: its own decompression-bomb check
    raises before the size can be reported, so a PNG declaring 30000x30000 read as "not an
    image". Our pixel limit, lower than PIL's, is checked by the caller instead.
    """
    Image.init()
    for fmt in SUPPORTED_FORMATS:
        factory, accept = Image.OPEN[fmt]
        known = accept is None or accept(data[:16])
        if not known or isinstance(known, str):
            continue
        try:
            img: Image.Image = factory(io.BytesIO(data), "")
        except Exception as e:  # PIL raises SyntaxError, struct.error, OSError... for bad headers
            raise ImageError(
                f"portrait {fmt} header is corrupt ({e}); send a JPEG, PNG or WebP file",
                field="image",
            ) from e
        return img
    try:
        fmt_name = Image.open(io.BytesIO(data)).format
    except Exception as e:
        raise ImageError(
            "portrait is not an image PIL can read; send a JPEG, PNG or WebP file", field="image"
        ) from e
    raise ImageError(
        f"portrait format {fmt_name} is not supported; send JPEG, PNG or WebP", field="image"
    )


def _flatten(img: Image.Image) -> Image.Image:
    """``img`` as RGB, transparent parts on white."""
    if img.mode in ("RGBA", "LA", "P"):
        bg = Image.new("RGB", img.size, (255, 255, 255))
        rgba = img.convert("RGBA")
        bg.paste(rgba, mask=rgba.getchannel("A"))
        return bg
    return img if img.mode == "RGB" else img.convert("RGB")


# ---------------------------------------------------------------- face finding


def find_face(image: U8Image) -> FloatArray:
    """Landmarks ``(68, 2)`` of the main face in a full portrait ``(H, W, 3) uint8``."""
    h, w = image.shape[:2]
    scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
    small = image
    if scale < 1.0:
        size = (round(w * scale), round(h * scale))
        small = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
    faces = lm.detect_faces(small, upsample=0) or lm.detect_faces(small, upsample=1)
    if not faces:
        raise NoFaceError(
            f"no face found in portrait ({w}x{h}); use a frontal photo with the face at least "
            f"{MIN_FACE_PX} px tall",
            field="image",
        )
    face = lm.pick_face(faces)
    left, top, right, bottom = (
        round(v / scale) for v in (face.left, face.top, face.right, face.bottom)
    )
    box = lm.FaceBox(left, top, right, bottom, face.score)
    if box.height < MIN_FACE_PX:
        raise FaceTooSmallError(
            f"the face in the portrait ({w}x{h}) is {box.height} px tall; "
            f"at least {MIN_FACE_PX} px "
            "is needed to animate it; use a closer or larger photo",
            field="image",
        )
    return lm.predict_landmarks(image, box)


def _eye_centers(points: FloatArray) -> tuple[FloatArray, FloatArray]:
    return points[lm.EYE_RIGHT].mean(axis=0), points[lm.EYE_LEFT].mean(axis=0)


def align_crop(image: U8Image, points: FloatArray, size: int) -> tuple[U8Image, FloatArray]:
    """Rotate eyes level, scale the face to ``FACE_FRACTION`` of ``size``, crop square.

    Returns the ``(size, size, 3)`` crop and the landmarks mapped into it. Where the crop
    runs past the portrait it is filled by reflecting the portrait at its edge, softened
    with distance (``_beyond_edge``): no black borders to warp and no smeared streaks.
    """
    right, left = _eye_centers(points)
    angle = math.atan2(float(left[1] - right[1]), float(left[0] - right[0]))
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, s], [-s, c]], dtype=np.float64)  # input -> level frame
    level = (points - points.mean(axis=0)) @ rot.T
    height = lm.face_height(level.astype(np.float32))
    scale = size * FACE_FRACTION / height  # output px per input px
    mid_level = np.array([level[:, 0].mean(), (level[lm.CHIN, 1] + level[:, 1].min()) / 2])
    center_in = points.mean(axis=0) + mid_level @ rot  # back to input coordinates
    img: Image.Image = Image.fromarray(image)
    reduce = max(1, int(1 / scale / 2))  # box-filter big portraits first: no aliasing
    if reduce > 1:
        img, center_in, scale = img.reduce(reduce), center_in / reduce, scale * reduce
        points = (points / reduce).astype(np.float32)
    out_c = np.array([FACE_CENTER[0] * size, FACE_CENTER[1] * size])
    # output pixel o -> input pixel: center_in + rot^T (o - out_c) / scale
    a = rot.T / scale
    off = center_in - a @ out_c
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]]) @ a.T + off
    outside = max(0.0, -corners.min(), (corners - np.array(img.size)).max())
    crop = _affine(img, a, off, size, int(outside) + 2)
    if outside > 0:
        crop = _beyond_edge(img, crop, a, off, size, BORDER_SOFTEN * size * FACE_FRACTION / scale)
    out_pts = (points - off) @ np.linalg.inv(a).T
    return crop, out_pts.astype(np.float32)


# Beyond the portrait's edge the reflection fades into a blurred copy of itself over this
# fraction of the face height: mirrored features (a second chin, half a mirrored ear)
# soften into plausible background instead of reading as a copy.
BORDER_SOFTEN: Final[float] = 0.35


def _affine(
    img: Image.Image, a: npt.NDArray[np.float64], off: npt.NDArray[np.float64], size: int, pad: int
) -> U8Image:
    """``(size, size, 3)`` output pixel ``o`` = ``img`` at ``a @ o + off`` (bicubic), the
    portrait reflected at its edges (``pad`` pixels of reflection are enough)."""
    arr = np.pad(np.asarray(img), ((pad, pad), (pad, pad), (0, 0)), mode="symmetric")
    data = (a[0, 0], a[0, 1], off[0] + pad, a[1, 0], a[1, 1], off[1] + pad)
    out = Image.fromarray(arr).transform(
        (size, size), Image.Transform.AFFINE, data, resample=Image.Resampling.BICUBIC
    )
    return np.asarray(out, dtype=np.uint8)


def _beyond_edge(
    img: Image.Image,
    crop: U8Image,
    a: npt.NDArray[np.float64],
    off: npt.NDArray[np.float64],
    size: int,
    fade: float,
) -> U8Image:
    """``crop`` with its pixels beyond the portrait's edge blended toward a blurred
    reflection, by their distance past the edge over ``fade`` input pixels. The blurred
    copy is made from a small version of the portrait: cheap at any portrait size."""
    f = max(1, int(fade / 8))
    small = img.reduce(f) if f > 1 else img
    blur = max(1.0, fade / f / 4)
    sa, soff = a / f, off / f
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]]) @ sa.T + soff
    pad = int(max(0.0, -corners.min(), (corners - np.array(small.size)).max()) + 3 * blur) + 2
    padded = np.pad(np.asarray(small), ((pad, pad), (pad, pad), (0, 0)), mode="symmetric")
    soft_img = Image.fromarray(padded).filter(ImageFilter.GaussianBlur(blur))
    data = (sa[0, 0], sa[0, 1], soff[0] + pad, sa[1, 0], sa[1, 1], soff[1] + pad)
    soft = np.asarray(
        soft_img.transform((size, size), Image.Transform.AFFINE, data, Image.Resampling.BILINEAR)
    )
    c = np.arange(size, dtype=np.float32) + np.float32(0.5)
    ix = np.float32(a[0, 0]) * c[None, :] + np.float32(a[0, 1]) * c[:, None] + np.float32(off[0])
    iy = np.float32(a[1, 0]) * c[None, :] + np.float32(a[1, 1]) * c[:, None] + np.float32(off[1])
    w, h = img.size
    past = np.hypot(np.maximum(np.maximum(-ix, ix - w), 0), np.maximum(np.maximum(-iy, iy - h), 0))
    t = np.minimum(past * np.float32(1.0 / fade), np.float32(1.0))[..., None]
    out = crop + t * (soft.astype(np.float32) - crop)
    blended: U8Image = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return blended


# ---------------------------------------------------------------- encoding


def _mesh_triangles(points: FloatArray, size: int) -> npt.NDArray[np.int64]:
    from scipy.spatial import Delaunay

    ring = np.linspace(0, size - 1, 5)
    border = [(x, y) for x in ring for y in ring if x in (0, size - 1) or y in (0, size - 1)]
    allpts = np.concatenate([points, np.array(border, dtype=np.float32)])
    return np.asarray(Delaunay(allpts).simplices, dtype=np.int64)


def mesh_vertices(appearance: Appearance) -> FloatArray:
    """Vertices ``(V, 2)`` the ``triangles`` index: control points then frame border."""
    s = appearance.size
    ring = np.linspace(0, s - 1, 5)
    border = [(x, y) for x in ring for y in ring if x in (0, s - 1) or y in (0, s - 1)]
    return np.concatenate([appearance.points.numpy(), np.array(border, dtype=np.float32)])


def encode_appearance(image: bytes | str | Path, *, size: int = 256) -> Appearance:
    """Encode a portrait (JPEG/PNG/WebP bytes or path) into an ``Appearance`` at ``size``.

    Raises ``ImageError`` (not an image, truncated, over ``MAX_IMAGE_BYTES`` or
    ``MAX_IMAGE_PIXELS``), ``NoFaceError``, ``FaceTooSmallError`` (under ``MIN_FACE_PX``),
    ``ConfigError`` for an unsupported ``size``. Takes ~0.1-0.3 s (dlib); do it once.
    """
    from lpm_bridge.errors import ConfigError

    if size not in SUPPORTED_SIZES:
        raise ConfigError(f"output size must be one of {SUPPORTED_SIZES}, got {size}", field="size")
    data = read_image_bytes(image)
    pixels = decode_image(data)
    crop, points = align_crop(pixels, find_face(pixels), size)
    return build_appearance(crop, points, size, hashlib.sha256(data).hexdigest())


def build_appearance(
    crop: U8Image, landmarks: FloatArray, size: int, content_hash: str
) -> Appearance:
    """Fit the rig to an aligned crop ``(S, S, 3) uint8`` with its landmarks ``(68, 2)``."""
    g = rig.build_geometry(landmarks)
    grid = rig.field_grid(g, size)
    disp = rig.displacements(g)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    lmk = g.landmarks
    lips = rig.lip_curves(g)
    nose_box, nose = rig.nose_map(g, size)
    px = np.float32(2.0 / (size - 1))  # one pixel in grid_sample's normalised units
    t = torch.from_numpy
    return Appearance(
        size=size,
        content_hash=content_hash,
        image=t(crop.copy()),
        landmarks=t(lmk.copy()),
        points=t(g.points),
        field=t(rig.field_basis(g, grid, disp) * px),
        field_origin=torch.tensor([grid.x0, grid.y0, grid.step], dtype=torch.float32),
        landmark_basis=t(np.ascontiguousarray(disp[:, : lm.NUM_LANDMARKS])),
        head=t(
            np.ascontiguousarray(
                rig.head_maps(g, xs.ravel(), ys.ravel(), size, nose=False).reshape(3, size, size)
                * px
            )
        ),
        nose=t(nose * px),
        nose_box=t(nose_box),
        head_landmarks=t(rig.head_maps(g, lmk[:, 0].copy(), lmk[:, 1].copy(), size)),
        eyes=t(rig.eye_params(g, crop)),
        mouth_box=t(rig.mouth_box(g, size)),
        lips=t(lips),
        lip_basis=t(rig.lip_basis(g, disp, lips)),
        head_lips=t(rig.head_maps(g, lips[:, :, 0].ravel(), lips[:, :, 1].ravel(), size)),
        mouth_colors=t(rig.mouth_colors(crop, g)),
        triangles=t(_mesh_triangles(g.points, size)),
    )


# ---------------------------------------------------------------- avatar store


def appearance_path(cache_dir: str | Path, content_hash: str, size: int) -> Path:
    """Where the appearance of the image with sha256 ``content_hash`` at ``size`` is cached."""
    return Path(cache_dir) / f"{content_hash}-{size}.safetensors"


def load_or_encode(
    image: bytes | str | Path, *, size: int = 256, cache_dir: str | Path
) -> Appearance:
    """The cached appearance for this image and size, encoding and caching it on a miss."""
    data = read_image_bytes(image)
    path = appearance_path(cache_dir, hashlib.sha256(data).hexdigest(), size)
    if path.is_file():
        try:
            return Appearance.load(path)
        except CheckpointError:
            pass  # stale format: re-encode below
    app = encode_appearance(data, size=size)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{time.monotonic_ns()}.tmp")
    app.save(tmp)
    tmp.replace(path)
    return app


def default_avatar_image() -> bytes:
    """PNG bytes of the bundled default avatar (NASA astronaut portrait, public domain)."""
    ref = importlib.resources.files("lpm_bridge") / "assets" / "avatars" / "astronaut.png"
    return ref.read_bytes()
