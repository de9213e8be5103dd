"""End to end: the SHIPPED weights on held-out voices synthesised on the fly (relaxed thresholds).

The full benchmark (bench/motion_eval.py) uses more clips and the strict targets; these checks
keep a broken checkpoint or a broken stream from ever shipping.
"""

import numpy as np
import pytest

from lpm_bridge.mapper import MotionStream, load_motion_model
from lpm_bridge.mapper.model import AudioPerformanceMapper
from lpm_bridge.motion import CH, YAW
from lpm_bridge.training.corpus import clip_specs, make_clip
from lpm_bridge.training.evaluate import (
    EvalClip,
    clip_metrics,
    count_blinks,
    seed_variety,
    stream_motion,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model() -> AudioPerformanceMapper:
    return load_motion_model()


@pytest.fixture(scope="module")
def clips() -> list[EvalClip]:
    specs = [s for s in clip_specs(0, 4, seed=0) if s.heldout]
    return [EvalClip(c.audio, c.sample_rate, c.motion, c.visemes) for c in map(make_clip, specs)]


def test_heldout_lips(model: AudioPerformanceMapper, clips: list[EvalClip]) -> None:
    m = clip_metrics(model, clips)
    assert m["jaw_corr"] >= 0.7, m
    assert abs(m["lag_frames"]) <= 1, m
    assert m["silence_mouth_closed"] >= 0.85, m
    assert m["vowel_mouth_open"] >= 0.7, m


def test_seeds_agree_on_lips_differ_elsewhere(
    model: AudioPerformanceMapper, clips: list[EvalClip]
) -> None:
    v = seed_variety(model, clips[0])
    assert v["jaw_corr_between_seeds"] >= 0.8, v
    assert v["yaw_rms_diff_deg"] > 0.2 or v["blink_frames_differ"] > 0, v


def test_idle_forever_is_calm_and_alive(model: AudioPerformanceMapper) -> None:
    g = stream_motion(model, np.zeros(16000 * 60, dtype=np.int16), 16000, seed=5)
    assert (g[:, CH["jawOpen"]] <= 0.15).mean() >= 0.95
    blinks = count_blinks(g[:, CH["eyeBlinkLeft"]])
    assert 2 <= blinks <= 40, blinks
    head = np.degrees(g[:, YAW:])
    assert 0.05 < head.std(0).max() < 8.0
    assert np.abs(head.mean(0)).max() < 6.0


def test_no_seam_between_speech_and_silence(
    model: AudioPerformanceMapper, clips: list[EvalClip]
) -> None:
    clip = clips[1]
    sr = clip.sample_rate
    audio = np.concatenate([np.zeros(sr, np.int16), clip.audio, np.zeros(2 * sr, np.int16)])
    stream = MotionStream(model, sr, seed=2)
    stream.push_audio(audio)
    stream.flush()
    g = stream.generate_ready()
    jump = np.abs(np.diff(g, axis=0))
    assert jump[:, CH["jawOpen"]].max() < 0.45
    assert np.degrees(jump[:, YAW:]).max() < 1.5
    assert (g[-25:, CH["jawOpen"]] <= 0.15).all()  # closed again a second after speech
