"""The motion contract: channel layout, validation, and the JSON / CSV track formats."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from lpm_bridge.errors import MotionError
from lpm_bridge.motion import (
    ARKIT_NAMES,
    CH,
    CHANNEL_NAMES,
    MAX_HEAD_ANGLE,
    NUM_CHANNELS,
    YAW,
    MotionTrack,
    neutral,
    validate_motion,
)


def test_channel_layout_is_arkit_then_head() -> None:
    assert len(ARKIT_NAMES) == 52 and len(set(ARKIT_NAMES)) == 52
    assert NUM_CHANNELS == 55 and CHANNEL_NAMES[-3:] == ("yaw", "pitch", "roll")
    # Apple's documented order starts with the left eye and ends with the tongue.
    assert ARKIT_NAMES[0] == "eyeBlinkLeft" and ARKIT_NAMES[-1] == "tongueOut"
    assert CH["jawOpen"] == 17 and CH["mouthClose"] == 18


def test_validate_accepts_one_frame_and_clips_float_noise() -> None:
    frame = neutral(1)[0]
    frame[CH["jawOpen"]] = 1.0005
    out = validate_motion(frame)
    assert out.shape == (1, 55) and out.dtype == np.float32
    assert out[0, CH["jawOpen"]] == 1.0


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda m: m[:, :54], "55 channels"),
        (lambda m: _set(m, CH["eyeBlinkLeft"], math.nan), "'eyeBlinkLeft'"),
        (lambda m: _set(m, CH["jawOpen"], math.inf), "finite"),
        (lambda m: _set(m, CH["mouthSmileLeft"], 1.5), "outside [0, 1]"),
        (lambda m: _set(m, YAW, 1.0), "yaw"),
    ],
)
def test_validate_rejects_with_a_message_naming_the_channel(mutate, needle) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MotionError) as e:
        validate_motion(mutate(neutral(3)), field="frames")
    assert needle in str(e.value) and e.value.field == "frames"


def test_clip_is_explicit() -> None:
    m = neutral(2)
    m[0, CH["jawOpen"]] = 2.0
    m[1, YAW] = -5.0
    out = validate_motion(m, clip=True)
    assert out[0, CH["jawOpen"]] == 1.0 and out[1, YAW] == pytest.approx(-MAX_HEAD_ANGLE)


def _set(m: np.ndarray, channel: int, value: float) -> np.ndarray:
    m[1, channel] = value
    return m


def test_track_json_and_csv_round_trip(tmp_path: Path) -> None:
    frames = np.random.default_rng(0).uniform(0, 1, (10, 55)).astype(np.float32)
    frames[:, 52:] = 0.1
    track = MotionTrack(fps=30, frames=frames)
    track.save(tmp_path / "t.json")
    back = MotionTrack.load(tmp_path / "t.json")
    assert back.fps == 30 and np.allclose(back.frames, frames, atol=1e-5)
    assert back.duration_s == pytest.approx(10 / 30)

    track.save_csv(tmp_path / "t.csv")
    rows = list(csv.reader((tmp_path / "t.csv").read_text().splitlines()))
    assert rows[0] == ["time", *CHANNEL_NAMES] and len(rows) == 11
    assert float(rows[2][0]) == pytest.approx(1 / 30, abs=1e-5)


def test_track_by_channel_name_subset() -> None:
    doc = {"fps": 25, "channels": ["jawOpen", "yaw"], "frames": [[0.5, 0.1], [1.0, -0.1]]}
    track = MotionTrack.from_json(json.dumps(doc))
    assert track.frames[1, CH["jawOpen"]] == 1.0 and track.frames[0, YAW] == pytest.approx(0.1)
    assert track.frames[:, CH["eyeBlinkLeft"]].sum() == 0


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("{", "track"),
        ('{"frames": []}', "track"),
        ('{"fps": 25, "channels": ["nose"], "frames": [[1]]}', "channels"),
        ('{"fps": 2.5, "frames": [[0]]}', "fps"),
    ],
)
def test_bad_track_files(text: str, field: str) -> None:
    with pytest.raises(MotionError) as e:
        MotionTrack.from_json(text)
    assert e.value.field == field
