"""The 32-frame state buffer: fixed size, trimmed to the newest frames, rest-pose start."""

import numpy as np
import pytest
import torch

from lpm_bridge.errors import MotionError
from lpm_bridge.mapper import MotionCodec, MotionMapperConfig, StateBuffer
from lpm_bridge.motion import CH


def test_rest_buffer() -> None:
    cfg = MotionMapperConfig()
    buf = StateBuffer.rest(cfg)
    assert buf.size == 32
    assert buf.frames.shape == (32, cfg.motion_dim)


def test_push_keeps_last_32() -> None:
    buf = StateBuffer.rest(MotionMapperConfig())
    d = buf.frames.shape[1]
    for i in range(100):
        n = 1 + i % 32
        buf = buf.push(torch.full((n, d), float(i)))
        assert buf.frames.shape == (32, d)
    assert torch.all(buf.frames[-1] == 99)
    assert buf.frames[0, 0] == 95  # pushes of 4, 3, 2, 1 frames (i = 99..96) + 22 of i = 95


def test_push_wrong_width() -> None:
    with pytest.raises(MotionError):
        StateBuffer.rest(MotionMapperConfig()).push(torch.zeros(2, 3))


def test_codec_roundtrip_and_clipping() -> None:
    cfg = MotionMapperConfig()
    codec = MotionCodec.from_config(cfg)
    frames = np.zeros((2, 55), dtype=np.float32)
    frames[:, CH["jawOpen"]] = 0.4
    assert np.allclose(codec.decode(codec.encode(frames)), frames)
    x = codec.encode(frames)
    x[:, 0] = 50.0  # jawOpen far out of range
    assert codec.decode(x)[:, CH["jawOpen"]].max() == 1.0
