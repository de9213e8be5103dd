"""Appearance encoder: decoding limits, face finding, alignment, rig, safetensors store."""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from face_helpers import astronaut
from PIL import Image
from skimage import data

from lpm_bridge import landmarks as lm
from lpm_bridge.appearance import (
    FACE_FRACTION,
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    MIN_FACE_PX,
    Appearance,
    appearance_path,
    default_avatar_image,
    encode_appearance,
    find_face,
    load_or_encode,
)
from lpm_bridge.errors import (
    CheckpointError,
    ConfigError,
    FaceTooSmallError,
    ImageError,
    NoFaceError,
    NotFoundError,
)


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_default_avatar_encodes_to_aligned_face_crop() -> None:
    app = astronaut(256)
    assert app.size == 256
    assert app.image.shape == (256, 256, 3) and app.image.dtype == torch.uint8
    assert app.content_hash == hashlib.sha256(default_avatar_image()).hexdigest()
    pts = app.landmarks.numpy()
    assert pts.shape == (68, 2) and (pts > 0).all() and (pts < 256).all()
    # Brow-to-chin height is FACE_FRACTION of the frame; eyes are level after alignment.
    assert lm.face_height(pts) == pytest.approx(FACE_FRACTION * 256, rel=0.08)
    right, left = pts[lm.EYE_RIGHT].mean(axis=0), pts[lm.EYE_LEFT].mean(axis=0)
    assert abs(right[1] - left[1]) < 2.0
    # The crop really is the portrait's face: dlib re-detects it where the encoder put it.
    again = lm.find_landmarks(app.image.numpy())
    assert again is not None and np.abs(again - pts).mean() < 3.0


def test_512_appearance_under_20_mb_and_renders_512() -> None:
    app = astronaut(512)
    assert app.image.shape == (512, 512, 3)
    assert app.nbytes < 20 * 1024 * 1024


def test_picks_real_face_over_false_detection_on_full_astronaut() -> None:
    # dlib finds two ~90 px faces here; the one on the suit has a far lower score.
    pts = find_face(data.astronaut())
    cx, cy = pts.mean(axis=0)
    assert 175 < cx < 265 and 76 < cy < 170


def test_save_load_roundtrip_is_fast_and_exact(tmp_path: Path) -> None:
    app = astronaut(256)
    path = tmp_path / "a.safetensors"
    app.save(path)
    t0 = time.perf_counter()
    back = Appearance.load(path)
    assert time.perf_counter() - t0 < 0.2
    assert back.size == app.size and back.content_hash == app.content_hash
    for name in ("image", "landmarks", "field", "head", "eyes", "mouth_colors", "triangles"):
        assert torch.equal(getattr(back, name), getattr(app, name)), name


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        Appearance.load(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not safetensors at all")
    with pytest.raises(CheckpointError, match="not a readable appearance"):
        Appearance.load(bad)


def test_load_or_encode_caches_by_content_hash(tmp_path: Path) -> None:
    img = default_avatar_image()
    first = load_or_encode(img, size=256, cache_dir=tmp_path)
    path = appearance_path(tmp_path, hashlib.sha256(img).hexdigest(), 256)
    assert path.is_file()
    t0 = time.perf_counter()
    second = load_or_encode(img, size=256, cache_dir=tmp_path)
    assert time.perf_counter() - t0 < 0.2  # a file load, not dlib again
    assert torch.equal(first.field, second.field)


def test_accepts_jpeg_webp_and_paths(tmp_path: Path) -> None:
    img = Image.open(io.BytesIO(default_avatar_image())).convert("RGB")
    for fmt in ("JPEG", "WEBP"):
        buf = io.BytesIO()
        img.save(buf, format=fmt, quality=92)
        path = tmp_path / f"p.{fmt.lower()}"
        path.write_bytes(buf.getvalue())
        app = encode_appearance(path, size=256)
        assert app.content_hash == hashlib.sha256(buf.getvalue()).hexdigest()


def test_not_an_image() -> None:
    with pytest.raises(ImageError, match="not an image"):
        encode_appearance(b"hello, I am a text file")


def test_truncated_image() -> None:
    png = default_avatar_image()
    with pytest.raises(ImageError, match="truncated"):
        encode_appearance(png[: len(png) // 2])


def test_too_many_bytes() -> None:
    with pytest.raises(ImageError, match=f"limit is {MAX_IMAGE_BYTES // 2**20} MiB"):
        encode_appearance(b"\xff" * (MAX_IMAGE_BYTES + 1))


def test_too_many_pixels() -> None:
    # A 1-bit PNG this large compresses to a few KB; the limit is checked before decoding.
    buf = io.BytesIO()
    Image.new("1", (9000, 5000)).save(buf, format="PNG")
    assert MAX_IMAGE_PIXELS < 9000 * 5000
    with pytest.raises(ImageError, match="9000x5000"):
        encode_appearance(buf.getvalue())


def test_no_face() -> None:
    with pytest.raises(
        NoFaceError, match=f"no face found in portrait \\(600x400\\).*{MIN_FACE_PX} px"
    ):
        encode_appearance(_png(data.coffee()))


def test_face_too_small() -> None:
    small = np.asarray(Image.fromarray(data.astronaut()).resize((300, 300), Image.LANCZOS))
    with pytest.raises(FaceTooSmallError, match=f"at least {MIN_FACE_PX} px"):
        encode_appearance(_png(small))


def test_unsupported_size() -> None:
    with pytest.raises(ConfigError, match="256, 512"):
        encode_appearance(default_avatar_image(), size=300)


def test_missing_path() -> None:
    with pytest.raises(ImageError, match="does not exist"):
        encode_appearance(Path("/nonexistent/portrait.png"))
