"""The face as a viewer sees it (issue 14): mouth, lids, head turn and borders, judged by
dlib re-detecting the face on frames rendered as the daemon sends them (YCbCr 4:2:0, JPEG
85) and decoded, on two public-domain portraits: the bundled astronaut (she smiles with
her teeth showing) and the official portrait of Joe Biden (2013, US government work,
closed mouth, a small face in a tall photo; ``tests/fixtures``)."""

from __future__ import annotations

import functools
import io
import math
from pathlib import Path

import numpy as np
import pytest
from face_helpers import motion
from PIL import Image

from lpm_bridge import face_metrics as fm
from lpm_bridge import landmarks as lm
from lpm_bridge.appearance import (
    FACE_FRACTION,
    Appearance,
    decode_image,
    default_avatar_image,
    encode_appearance,
    find_face,
)
from lpm_bridge.renderer import Renderer

BIDEN = Path(__file__).parent / "fixtures" / "02_biden_official_closed_smile_small_face.jpg"
PORTRAITS = ("astronaut", "biden")
YAW = math.radians(15)
PITCH = math.radians(10)

pytestmark = pytest.mark.timeout(60)


@functools.cache
def portrait_bytes(name: str) -> bytes:
    return default_avatar_image() if name == "astronaut" else BIDEN.read_bytes()


@functools.cache
def appearance(name: str) -> Appearance:
    return encode_appearance(portrait_bytes(name), size=256)


@functools.cache
def reference(name: str) -> fm.Detected:
    ref = fm.detect(decode_image(portrait_bytes(name)), embedding=True)
    assert ref is not None
    return ref


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def _seen(renderer: Renderer, name: str, *rows: np.ndarray) -> list[tuple[np.ndarray, fm.Detected]]:
    """Frames as a client decodes them, each with dlib's re-detection (the embedding too)."""
    frames = fm.render_decoded(renderer, appearance(name), np.stack(rows))
    out = []
    for f in frames:
        d = fm.detect(f, embedding=True)
        assert d is not None, "dlib found no face in the rendered frame"
        out.append((f, d))
    return out


@pytest.mark.parametrize("name", PORTRAITS)
def test_open_jaw_parts_the_lips_over_a_dark_cavity(renderer: Renderer, name: str) -> None:
    """jawOpen = 1: the inner lips part by >= 8 % of the face height and >= 30 % of the
    inner-lip area is darker than 40 % of the face's median luma. Before the painted
    mouth, the closed-mouth portrait showed a pale slab (13-20 % dark)."""
    ((frame, d),) = _seen(renderer, name, motion(jawOpen=1.0))
    assert fm.lip_gap(d) >= 0.08
    assert fm.cavity_fraction(frame, d.landmarks, fm.face_median_luma(frame, d.landmarks)) >= 0.30
    assert fm.embedding_distance(d, reference(name)) <= 0.30


def test_closed_mouth_portrait_gets_teeth_lit_like_its_face(renderer: Renderer) -> None:
    """A portrait that shows no teeth gets a tooth row under the upper lip when the jaw
    opens: bright pixels in the upper part of the opening, none in the lower part (the
    cavity), and no more than a little brighter than the face's brightest skin."""
    ((frame, d),) = _seen(renderer, "biden", motion(jawOpen=1.0))
    luma = fm.luma(frame)
    face = fm.face_median_luma(frame, d.landmarks)
    mask = fm.polygon_mask(frame.shape[:2], d.landmarks[list(fm.INNER_LIP_RING)])
    ys = np.nonzero(mask)[0]
    mid = (ys.min() + ys.max()) / 2
    top, bottom = mask.copy(), mask.copy()
    top[int(mid) :] = False
    bottom[: int(mid) + 1] = False
    assert np.percentile(luma[top], 90) > 1.2 * face  # teeth
    assert np.median(luma[bottom]) < 0.4 * face  # the cavity below them
    assert luma[mask].max() < 255  # lit like the portrait, not pasted white


def test_neutral_frame_is_the_portrait_and_paints_nothing(renderer: Renderer) -> None:
    app = appearance("biden")
    frame = renderer.render(app, motion()[None])[0]
    assert np.array_equal(frame, app.image.numpy())


@pytest.mark.parametrize("name", PORTRAITS)
def test_blink_closes_the_lids(renderer: Renderer, name: str) -> None:
    """Both eyeBlinks = 1: dlib re-detects each eye at most 0.55 of its open aspect ratio
    (the old lids: 0.59 on the Biden portrait). dlib brackets a closed eye's lash line by
    a pixel or two at this size, so a narrow eye cannot reach the issue's 0.35 here (see
    docs/face.md)."""
    (_, opened), (_, shut) = _seen(
        renderer, name, motion(), motion(eyeBlinkLeft=1.0, eyeBlinkRight=1.0)
    )
    assert max(fm.eye_ratios(opened, shut)) <= 0.55
    assert fm.embedding_distance(shut, reference(name)) <= 0.30


@pytest.mark.parametrize("name", PORTRAITS)
def test_yaw_carries_the_nose_ahead_of_the_eyes(renderer: Renderer, name: str) -> None:
    """Yaw +-15 deg: the nose tip moves >= 0.25 inter-ocular distances relative to the
    eyes, peak to peak (a real head's parallax; the old flat relief moved it 0.14-0.15),
    toward the turn, and identity holds."""
    (_, base), (_, left), (_, right) = _seen(
        renderer, name, motion(), motion(yaw=-YAW), motion(yaw=YAW)
    )
    travel = fm.nose_travel(left, right, fm.inter_ocular(base))
    assert travel[0] >= 0.25
    for d in (left, right):
        assert fm.embedding_distance(d, reference(name)) <= 0.30


@pytest.mark.parametrize("name", PORTRAITS)
def test_pitch_tilts_the_face(renderer: Renderer, name: str) -> None:
    """Pitch +10 deg lifts the nose (and the face) and moves the nose up relative to the
    eyes; -10 deg the other way."""
    (_, base), (_, up), (_, down) = _seen(
        renderer, name, motion(), motion(pitch=PITCH), motion(pitch=-PITCH)
    )
    iod = fm.inter_ocular(base)
    assert fm.nose_travel(down, up, iod)[1] <= -0.06  # up is -y
    tip = lm.NOSE_TIP
    assert up.landmarks[tip, 1] < base.landmarks[tip, 1] < down.landmarks[tip, 1]
    for d in (up, down):
        assert fm.embedding_distance(d, reference(name)) <= 0.30


def test_crop_past_the_photo_is_reflected_not_smeared() -> None:
    """A portrait cut tight at the left of the face: the crop runs past the photo's edge.
    Beyond it each row used to repeat its edge pixel (horizontal streaks, no variation
    along a row); reflection keeps the photo's texture there, continuous at the edge."""
    photo = np.asarray(Image.open(io.BytesIO(default_avatar_image())).convert("RGB"))
    tight = photo[:, 70:]  # cut just left of her hair
    buf = io.BytesIO()
    Image.fromarray(tight).save(buf, format="PNG")
    app = encode_appearance(buf.getvalue(), size=256)
    crop = app.image.numpy().astype(np.float32)
    # The crop centres the face (eyes level, here nearly so) at FACE_FRACTION of the
    # frame: the photo's left edge lands at x = S/2 - mean landmark x * scale.
    pts = find_face(tight)
    scale = app.size * FACE_FRACTION / lm.face_height(pts)
    edge = round(app.size / 2 - float(pts[:, 0].mean()) * scale)
    assert 16 <= edge <= 128
    rows = slice(40, 216)
    beyond = crop[rows, : edge - 4]
    assert beyond.std(axis=1).mean() > 4.0  # texture along each row, not a streak
    # Continuous at the edge: the columns either side differ like neighbours inside.
    step = np.abs(crop[rows, edge - 3] - crop[rows, edge + 2]).mean()
    inside = np.abs(crop[rows, edge + 8] - crop[rows, edge + 13]).mean()
    assert step <= 2 * inside + 6
