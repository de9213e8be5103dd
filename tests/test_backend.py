"""The backend wires each session's settings into its own motion stream."""

from __future__ import annotations

import numpy as np

from lpm_bridge.backend import LPMBackend
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
