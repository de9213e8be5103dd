"""Compute processes (compute_pool): same motion and frames as in the daemon, appearances sent
once and dropped with the daemon's reference, errors reported (a dead worker:
test_compute_pool_failover)."""

from __future__ import annotations

import gc
import io
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from face_helpers import astronaut, mirrored_astronaut_png, motion
from PIL import Image

from lpm_bridge.appearance import default_avatar_image, encode_appearance
from lpm_bridge.compute_pool import ComputePool, render_jpeg
from lpm_bridge.mapper import MotionStream, load_motion_model, sample_batch
from lpm_bridge.renderer import Renderer


@pytest.fixture(scope="module")
def pool() -> Iterator[ComputePool]:
    p = ComputePool(2)
    yield p
    p.close()


def cropped_astronaut_png() -> bytes:
    """A face no other test encodes (appearances are cached by image content)."""
    img = Image.open(io.BytesIO(default_avatar_image())).convert("RGB")
    buf = io.BytesIO()
    img.crop((10, 6, img.width - 4, img.height - 12)).save(buf, format="PNG")
    return buf.getvalue()


def rows() -> np.ndarray:
    return np.stack(
        [
            motion(jawOpen=0.7, yaw=0.1),
            motion(eyeBlinkLeft=1.0, mouthSmileLeft=0.6),
            motion(mouthClose=0.5, jawOpen=0.5, pitch=-0.1),
            motion(mouthFunnel=0.8, browInnerUp=0.5),
        ]
    )


def test_pool_frames_are_the_in_process_frames(pool: ComputePool) -> None:
    other = encode_appearance(mirrored_astronaut_png(), size=256)
    apps = [astronaut(), astronaut(), other, astronaut()]
    m = rows()
    renderer = Renderer()
    quality = [85, 85, 60, 85]
    assert pool.render_jpeg(apps, m, quality) == render_jpeg(renderer, apps, m, quality)
    assert np.array_equal(pool.render(apps, m), renderer.render_batch(apps, m))
    # Both workers served a call (each was taken in turn) and hold both faces now.
    pool.render_jpeg(apps, m, quality)
    assert pool.cached() == [2, 2]


def test_an_appearance_is_dropped_by_the_workers_with_the_daemons_last_reference(
    pool: ComputePool,
) -> None:
    gc.collect()  # faces of earlier tests: gone, and their drops delivered
    for _ in range(2):
        pool.render_jpeg([astronaut()], rows()[:1], [85])
    before = pool.cached()
    temp = encode_appearance(cropped_astronaut_png(), size=256)
    for _ in range(2):  # reaches both workers
        pool.render_jpeg([temp], rows()[:1], [85])
    assert pool.cached() == [n + 1 for n in before]
    del temp
    gc.collect()
    for _ in range(2):  # the drop travels with each worker's next call
        pool.render_jpeg([astronaut()], rows()[:1], [85])
    assert pool.cached() == before


def test_a_failure_in_a_worker_is_reported_and_the_worker_goes_on(pool: ComputePool) -> None:
    with pytest.raises(RuntimeError, match="compute process failed: MotionError"):
        pool.render_jpeg([astronaut()], np.zeros((1, 54), np.float32), [85])
    assert len(pool.render_jpeg([astronaut()] * 4, rows(), [85] * 4)) == 4


def test_pool_motion_is_the_in_process_motion(pool: ComputePool) -> None:
    """The mapper's sampling in a worker: the shipped checkpoint, the same chunk requests,
    the same motion (live jobs of different lengths in one call included)."""
    model = load_motion_model()
    streams = [MotionStream(model, 16000, seed=i) for i in range(3)]
    for i, s in enumerate(streams):
        s.push_audio((np.sin(np.arange(16000) / (6.0 + i)) * 6000).astype(np.int16))
    requests = [s.prepare(n) for s, n in zip(streams, (1, 3, 2), strict=True)]
    got = pool.sample(requests)
    want = sample_batch(model, requests)
    assert [g.shape for g in got] == [(1, 55), (3, 55), (2, 55)]
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(g, w)


def test_preload_sends_a_face_to_every_worker_before_its_first_frame(pool: ComputePool) -> None:
    gc.collect()
    for _ in range(2):  # deliver earlier tests' drops
        pool.render_jpeg([astronaut()], rows()[:1], [85])
    before = pool.cached()
    face = encode_appearance(cropped_astronaut_png(), size=512)
    pool.preload(face)
    assert pool.cached() == [n + 1 for n in before]
    pool.preload(face)  # known everywhere: nothing sent
    assert pool.cached() == [n + 1 for n in before]
    assert len(pool.render_jpeg([face] * 2, rows()[:2], [85, 85])) == 2


def test_a_compute_process_samples_without_transformers_modeling_code() -> None:
    """A worker's loop, as ``python -m lpm_bridge.compute_pool`` runs it, loads the mapper
    as the plain-torch ``MapperNet``: importing transformers' modeling code would cost every
    compute process ~135 MB and ~2.7 s of start-up (its motion is checked equal above)."""
    code = (
        "import sys, threading\n"
        "from multiprocessing import Pipe\n"
        "from lpm_bridge import compute_pool as cp\n"
        "ours, theirs = Pipe()\n"
        "loop = threading.Thread(target=cp._serve, args=(theirs, None))\n"
        "loop.start()\n"
        "cp._send(ours, 'size')\n"  # answered once the model and renderer are loaded
        "print(cp._recv(ours))\n"
        "cp._send(ours, None)\n"
        "loop.join()\n"
        "print('transformers.modeling_utils' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["('ok', 0)", "False"]
