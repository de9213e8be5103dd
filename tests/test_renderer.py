"""Renderer: every channel judged on the rendered pixels, by dlib re-detection where it can."""

from __future__ import annotations

import gc
import math
import threading
import weakref

import numpy as np
import pytest
import torch
from face_helpers import astronaut, mirrored_astronaut_png, motion, redetect, reference_embedding

from lpm_bridge import landmarks as lm
from lpm_bridge.appearance import encode_appearance
from lpm_bridge.errors import ConfigError, MotionError
from lpm_bridge.frames import RGB_TO_YCBCR, YCBCR_OFFSET
from lpm_bridge.motion import ARKIT_NAMES, NUM_CHANNELS, neutral
from lpm_bridge.renderer import Renderer, psnr

HEAD = math.radians(15)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def _render(renderer: Renderer, *rows: np.ndarray, size: int = 256) -> np.ndarray:
    return renderer.render(astronaut(size), np.stack(rows))


@pytest.mark.parametrize("size", [256, 512])
def test_neutral_reproduces_portrait(renderer: Renderer, size: int) -> None:
    frames = renderer.render(astronaut(size), neutral(3))
    assert frames.shape == (3, size, size, 3) and frames.dtype == np.uint8
    assert psnr(frames[0], astronaut(size).image.numpy()) >= 35.0


def test_neutral_row_untouched_by_other_rows_in_chunk(renderer: Renderer) -> None:
    frames = _render(renderer, motion(), motion(jawOpen=1, eyeBlinkLeft=1, yaw=0.2))
    assert np.array_equal(frames[0], astronaut().image.numpy())


def test_jaw_open_parts_lips_by_8_percent_of_face_height(renderer: Renderer) -> None:
    closed, opened = _render(renderer, motion(), motion(jawOpen=1.0))
    base, wide = redetect(closed), redetect(opened)
    h = lm.face_height(base)
    assert lm.inner_lip_gap(wide) - lm.inner_lip_gap(base) >= 0.08 * h
    # Monotonic: half open is between closed and open.
    half = redetect(_render(renderer, motion(jawOpen=0.5))[0])
    assert lm.inner_lip_gap(base) < lm.inner_lip_gap(half) < lm.inner_lip_gap(wide)


def test_mouth_close_seals_lips(renderer: Renderer) -> None:
    frames = _render(
        renderer, motion(), motion(mouthClose=1.0), motion(jawOpen=1.0, mouthClose=1.0)
    )
    h = lm.face_height(redetect(frames[0]))
    assert lm.inner_lip_gap(redetect(frames[1])) <= 0.03 * h  # the portrait shows teeth: 6.5%
    assert lm.inner_lip_gap(redetect(frames[2])) <= 0.05 * h


def test_open_mouth_has_dark_cavity_and_teeth(renderer: Renderer) -> None:
    frame = _render(renderer, motion(jawOpen=1.0))[0]
    pts = redetect(frame)
    upper, lower = pts[list(lm.INNER_UPPER)], pts[list(lm.INNER_LOWER)]
    x0, x1 = int(upper[1, 0]), int(upper[3, 0])
    y0, y1 = int(upper[1:4, 1].max()), int(lower[1:4, 1].min())
    inside = frame[y0:y1, x0:x1].astype(float).mean(axis=2)
    lip = frame[int(lower[2, 1]) + 2, x0:x1].astype(float).mean()
    assert inside.size > 0
    assert np.percentile(inside, 30) < 0.5 * lip  # dark cavity
    assert inside.max() > 150  # teeth


@pytest.mark.parametrize("both", [True, False])
def test_blinks(renderer: Renderer, both: bool) -> None:
    rows = [
        motion(),
        motion(eyeBlinkLeft=1.0, eyeBlinkRight=1.0) if both else motion(eyeBlinkLeft=1.0),
    ]
    opened, shut = _render(renderer, *rows)
    if both:
        a, b = redetect(opened), redetect(shut)
        for eye in (lm.EYE_RIGHT, lm.EYE_LEFT):
            assert lm.eye_aspect_ratio(b, eye) < 0.5 * lm.eye_aspect_ratio(a, eye)
        return
    # eyeBlinkLeft is the subject's left eye: the image's right eye changes, the other not.
    pts = astronaut().landmarks.numpy()
    diff = np.abs(shut.astype(float) - opened.astype(float)).mean(axis=2)

    def eye_change(eye: slice) -> float:
        (x0, y0), (x1, y1) = (
            pts[eye].min(axis=0).astype(int) - 2,
            pts[eye].max(axis=0).astype(int) + 2,
        )
        return float(diff[y0:y1, x0:x1].mean())

    assert eye_change(lm.EYE_LEFT) > 20.0
    assert eye_change(lm.EYE_RIGHT) == 0.0


REGION = {  # channel prefix -> the landmarks whose neighbourhood must change
    "eye": slice(36, 48), "jaw": slice(48, 68), "mouth": slice(48, 68), "brow": slice(17, 27),
    "cheekPuff": slice(2, 15), "cheekSquint": slice(36, 55), "nose": slice(27, 36),
    "tongue": slice(60, 68),
}  # fmt: skip


@pytest.mark.parametrize("name", ARKIT_NAMES)
def test_every_channel_moves_its_region(renderer: Renderer, name: str) -> None:
    neutral_frame, moved = _render(renderer, motion(), motion(**{name: 1.0}))
    part = next(v for k, v in REGION.items() if name.startswith(k))
    if name == "tongueOut":  # the tongue shows only when the mouth is open
        neutral_frame, moved = _render(
            renderer, motion(jawOpen=0.7), motion(jawOpen=0.7, tongueOut=1.0)
        )
    pts = astronaut().landmarks.numpy()[part]
    (x0, y0), (x1, y1) = pts.min(axis=0).astype(int) - 6, pts.max(axis=0).astype(int) + 6
    diff = np.abs(moved.astype(float) - neutral_frame.astype(float))[y0:y1, x0:x1]
    assert diff.mean() > 0.8, f"{name} barely changes its region (mean diff {diff.mean():.2f})"


def test_identity_holds_at_channel_extremes(renderer: Renderer) -> None:
    rows = [motion(**{n: 1.0}) for n in ARKIT_NAMES]  # mouthClose included
    for ax in ("yaw", "pitch", "roll"):
        rows += [motion(**{ax: HEAD}), motion(**{ax: -HEAD})]
    ref = reference_embedding()
    worst = 0.0
    for frame in renderer.render(astronaut(), np.stack(rows)):
        emb = lm.face_embedding(frame)
        assert emb is not None
        worst = max(worst, float(np.linalg.norm(emb - ref)))
    assert worst <= 0.30


@pytest.mark.parametrize("axis", ["yaw", "pitch", "roll"])
def test_head_rotation_direction_and_no_tearing(renderer: Renderer, axis: str) -> None:
    base, turned = _render(renderer, motion(), motion(**{axis: HEAD}))
    a, b = redetect(base), redetect(turned)
    nose = b[lm.NOSE_TIP] - a[lm.NOSE_TIP]
    if axis == "yaw":
        assert nose[0] > 3.0  # nose toward +x
    elif axis == "pitch":
        assert nose[1] < -3.0  # nose up
    else:

        def tilt(p: np.ndarray) -> float:
            d = p[lm.EYE_LEFT].mean(axis=0) - p[lm.EYE_RIGHT].mean(axis=0)
            return math.degrees(math.atan2(-d[1], d[0]))

        assert tilt(b) - tilt(a) == pytest.approx(15.0, abs=5.0)  # counter-clockwise
    # The warp fades out before the border: the frame edge is the portrait's edge.
    assert np.array_equal(turned[0], base[0]) and np.array_equal(turned[:, -1], base[:, -1])
    # No tearing: no new hard edges (max neighbour difference stays like the portrait's).
    grad = lambda f: np.abs(np.diff(f.astype(int), axis=1)).max(axis=2)  # noqa: E731
    assert np.percentile(grad(turned), 99.9) <= np.percentile(grad(base), 99.9) * 1.3 + 5


def test_render_batch_uses_each_rows_appearance(renderer: Renderer) -> None:
    other = encode_appearance(mirrored_astronaut_png(), size=256)
    apps = [astronaut(), other, astronaut()]
    m = np.stack([motion(), motion(), motion(jawOpen=1.0)])
    out = renderer.render_batch(apps, m)
    assert out.shape == (3, 256, 256, 3)
    assert np.array_equal(out[0], astronaut().image.numpy())
    assert np.array_equal(out[1], other.image.numpy())
    assert np.array_equal(out[2], renderer.render(astronaut(), m[2:])[0])


def test_render_batch_mixed_runs_match_single_renders(renderer: Renderer) -> None:
    # Runs of one avatar of different lengths, split across internal chunks: every row
    # must equal that avatar rendered alone (head turn, blink, lips, mouthClose all on).
    other = encode_appearance(mirrored_astronaut_png(), size=256)
    rows = [
        motion(jawOpen=0.6, yaw=0.2, eyeBlinkLeft=1.0),
        motion(mouthClose=1.0, pitch=-0.1),
        motion(jawOpen=1.0, mouthClose=0.5, roll=0.1, mouthSmileLeft=1.0),
        motion(eyeLookUpLeft=1.0, browInnerUp=1.0),
    ]
    apps = [astronaut(), astronaut(), other, other, other, astronaut(), other, astronaut()]
    m = np.stack([rows[i % 4] for i in range(len(apps))])
    out = renderer.render_batch(apps, m)
    for i, app in enumerate(apps):
        # Equal up to float summation order (a chunk reads the basis rows its rows use).
        diff = np.abs(out[i].astype(int) - renderer.render(app, m[i : i + 1])[0])
        assert diff.max() <= 1 and diff.mean() < 0.01, (i, diff.max(), diff.mean())


def test_renderer_basis_leaves_out_only_the_zero_eye_fields() -> None:
    """The renderer keeps no field rows for blinks and gaze (lids and irises are drawn
    analytically) and keeps every other feature's row once. That is exact only while the
    rig leaves those fields zero: checked on two different faces at both sizes."""
    from lpm_bridge import rig
    from lpm_bridge.renderer import _EYE_CHANNELS, FIELD_ORDER

    assert sorted(FIELD_ORDER + _EYE_CHANNELS) == list(range(rig.NUM_FEATURES))
    for size in (256, 512):
        for app in (astronaut(size), encode_appearance(mirrored_astronaut_png(), size=size)):
            assert float(app.field[_EYE_CHANNELS].abs().max()) == 0.0
            # and the speech channels the order puts first do move the face
            assert all(float(app.field[c].abs().max()) > 0 for c in FIELD_ORDER[:17])


def test_field_rows_read_in_place_gathered_or_whole_agree(renderer: Renderer) -> None:
    """The face-field basis is read three ways by which channels are in use: a prefix in
    place (speech channels), gathered (a few others), whole (most). Channels at 1e-30 switch
    the way without moving anything, so the frames must agree."""
    speech = motion(jawOpen=0.6, mouthFunnel=0.3, mouthPucker=0.2, mouthSmileLeft=0.4, yaw=0.1)
    gathered, whole = speech.copy(), speech.copy()
    gathered[ARKIT_NAMES.index("cheekPuff")] = 1e-30
    whole[: len(ARKIT_NAMES)] = np.maximum(whole[: len(ARKIT_NAMES)], 1e-30)
    for name in ("mouthRollLower", "mouthRollUpper", "mouthPressLeft", "mouthPressRight",
                 "mouthLowerDownLeft", "mouthLowerDownRight"):  # fmt: skip
        whole[ARKIT_NAMES.index(name)] = 0.0  # a gap in the prefix: read whole
    frames = np.concatenate([_render(renderer, row) for row in (speech, gathered, whole)])
    for other in frames[1:]:
        diff = np.abs(other.astype(int) - frames[0].astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-4  # float summation order only
    puffed = _render(renderer, motion(cheekPuff=1.0))[0]
    assert np.abs(puffed.astype(int) - astronaut().image.numpy()).max() > 20  # cheekPuff moves


@pytest.mark.parametrize("size", [256, 512])
def test_ycbcr420_frames_are_the_rgb_frames_in_jpeg_colour_space(
    renderer: Renderer, size: int
) -> None:
    """The JPEG path (luma per pixel, chroma per 2x2 block) draws what the RGB path draws:
    every paint active (lids, mouth interior, tongue, own lips sealed), head turns, and
    runs of two avatars in one batch."""
    two = [astronaut(size), encode_appearance(mirrored_astronaut_png(), size=size)]
    rows = np.stack(
        [
            motion(),
            motion(jawOpen=1.0, eyeBlinkLeft=1.0, eyeBlinkRight=0.6),
            motion(mouthClose=1.0, yaw=0.2),
            motion(jawOpen=0.7, tongueOut=1.0, pitch=-0.2, eyeLookUpLeft=1.0),
        ]
    )
    apps = [two[0], two[0], two[1], two[1]]
    rgb = renderer.render_batch(apps, rows)
    planes = renderer.render_batch_ycbcr420(apps, rows)
    assert planes.y.shape == (4, size, size) and planes.cbcr.shape == (4, 2, size // 2, size // 2)
    ycc = np.einsum("ij,thwj->tihw", RGB_TO_YCBCR, rgb.astype(np.float32))
    ycc += YCBCR_OFFSET[None, :, None, None]
    assert np.abs(ycc[:, 0] - planes.y).max() <= 2.0  # 8-bit rounding, twice
    blocks = ycc[:, 1:].reshape(4, 2, size // 2, 2, size // 2, 2).mean(axis=(3, 5))
    dc = np.abs(blocks - planes.cbcr)
    # Only where the warp is sharp within a block (lid and lip edges) may one differ.
    assert dc.mean() <= 0.5 and np.percentile(dc, 99.9) <= 3.0
    assert np.array_equal(rgb[0], astronaut(size).image.numpy())
    assert psnr(planes[0:1].to_rgb()[0], rgb[0]) >= 35.0  # neutral: the portrait, 4:2:0


def test_render_batch_errors(renderer: Renderer) -> None:
    with pytest.raises(MotionError, match="2 appearances for 1 motion rows"):
        renderer.render_batch([astronaut(), astronaut()], neutral(1))
    with pytest.raises(ConfigError, match="one output size"):
        renderer.render_batch([astronaut(256), astronaut(512)], neutral(2))


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros((2, 54), np.float32), "55 channels"),
        (np.full((1, NUM_CHANNELS), np.nan, np.float32), "must be finite"),
        (np.full((1, NUM_CHANNELS), np.inf, np.float32), "must be finite"),
        (motion(jawOpen=1.5)[None], "jawOpen.*outside \\[0, 1\\]"),
        (motion(yaw=1.0)[None], "yaw"),
    ],
)
def test_bad_motion(renderer: Renderer, bad: np.ndarray, match: str) -> None:
    with pytest.raises(MotionError, match=match):
        renderer.render(astronaut(), bad)


def test_accepts_tensor_and_single_frame(renderer: Renderer) -> None:
    m = motion(jawOpen=0.5)
    a = renderer.render(astronaut(), torch.from_numpy(m))
    b = renderer.render(astronaut(), m[None])
    assert a.shape == (1, 256, 256, 3) and np.array_equal(a, b)


def test_memory_bounded_by_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    r = Renderer(chunk=4)
    seen: list[int] = []
    inner = Renderer._render_chunk

    def spy(self: Renderer, a: object, m: torch.Tensor, planar: bool = False) -> torch.Tensor:
        seen.append(len(m))
        return inner(self, a, m, planar)  # type: ignore[arg-type]

    monkeypatch.setattr(Renderer, "_render_chunk", spy)
    frames = r.render(astronaut(), np.repeat(motion(jawOpen=0.3)[None], 50, axis=0))
    assert frames.shape[0] == 50 and max(seen) == 4 and sum(seen) == 50
    planes = r.render_batch_ycbcr420([astronaut()] * 9, np.repeat(motion()[None], 9, axis=0))
    assert len(planes) == 9 and max(seen) == 4 and sum(seen) == 59


def test_device_views_freed_with_the_appearance() -> None:
    """The renderer's per-avatar views go when the avatar does, by reference counting alone
    (no cycle left for the garbage collector): a daemon deleting avatars gets the memory back."""
    r = Renderer()
    app = encode_appearance(mirrored_astronaut_png(), size=256)
    r.render(app, np.stack([motion(jawOpen=0.4)] * 3))
    r.render_batch([app, astronaut()], np.stack([motion(), motion(eyeBlinkLeft=1)]))
    view = weakref.ref(r._device_apps[app])
    gc.disable()
    try:
        del app
        assert view() is None and len(r._device_apps) == 1  # astronaut() is cached elsewhere
    finally:
        gc.enable()


def test_thread_safe(renderer: Renderer) -> None:
    rng = np.random.default_rng(0)
    jobs = [np.clip(rng.random((12, NUM_CHANNELS), dtype=np.float32) * 0.6, 0, 1) for _ in range(4)]
    for j in jobs:
        j[:, 52:] = 0.1
    expected = [renderer.render(astronaut(), j) for j in jobs]
    got: list[np.ndarray | None] = [None] * len(jobs)

    def work(i: int) -> None:
        got[i] = renderer.render(astronaut(), jobs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e, g in zip(expected, got, strict=True):
        assert g is not None and np.array_equal(e, g)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu() -> None:
    m = np.stack([motion(jawOpen=0.8, yaw=0.2), motion(eyeBlinkLeft=1.0, mouthSmileLeft=1.0)])
    cpu = Renderer().render(astronaut(), m)
    gpu = Renderer("cuda").render(astronaut(), m)
    assert np.abs(cpu.astype(int) - gpu.astype(int)).mean() < 1.0
