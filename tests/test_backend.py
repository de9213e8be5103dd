"""The backend wires each session's settings into its own motion stream."""

from __future__ import annotations

import numpy as np
from face_helpers import astronaut, motion

from lpm_bridge.backend import LPMBackend
from lpm_bridge.frames import decode_jpeg, encode_jpeg
from lpm_bridge.motion import neutral
from lpm_bridge.renderer import psnr
from lpm_bridge.session_types import SessionConfig


def test_session_lookahead_sets_when_frames_are_ready() -> None:
    backend = LPMBackend.load()
    ready = {}
    for lookahead in (0, 40, 80):
        stream = backend.new_stream(SessionConfig(sample_rate_hz=16000, lookahead_ms=lookahead))
        stream.push_audio(np.zeros(16000 * 240 // 1000, dtype=np.int16))  # 240 ms
        ready[lookahead] = stream.frames_ready
    # Frame k (at k * 40 ms) needs audio through k * 40 + 12.5 ms + the lookahead: every
    # 40 ms of lookahead holds back exactly one more 25 fps frame.
    assert ready[0] - ready[40] == 1 and ready[40] - ready[80] == 1, ready
    assert ready[80] >= 1


def test_render_jpeg_gives_each_row_its_own_quality_and_picture() -> None:
    """Frames rendered straight to JPEG decode to what the RGB render encodes to."""
    backend = LPMBackend.load()
    rows = np.stack([neutral(1)[0], motion(jawOpen=1.0), motion(jawOpen=1.0), motion(yaw=0.2)])
    apps = [astronaut()] * 4
    quality = [90, 90, 40, 90]
    files = backend.render_jpeg(apps, rows, quality)
    rgb = backend.render(apps, rows)
    assert len(files) == 4 and all(f[:2] == b"\xff\xd8" for f in files)
    for f, frame, q in zip(files, rgb, quality, strict=True):
        assert psnr(decode_jpeg(f), decode_jpeg(encode_jpeg(frame, q))) >= 35.0
    assert len(files[2]) < len(files[1])  # the same picture at quality 40
    turned = decode_jpeg(files[3])  # each row keeps its own picture
    assert psnr(turned, rgb[3]) > psnr(turned, rgb[0]) + 5.0
