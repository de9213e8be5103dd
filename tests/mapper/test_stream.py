"""MotionStream with a tiny random model: timeline, determinism, chunk sizes, bad input."""

from typing import Any

import numpy as np
import pytest
import torch

from lpm_bridge.errors import AudioError, ConfigError, PreconditionError
from lpm_bridge.mapper import AudioPerformanceMapper, MotionMapperConfig, MotionStream, sample_batch
from lpm_bridge.mapper.stream import PAD_FRAMES, _length_groups
from lpm_bridge.motion import NUM_CHANNELS, validate_motion


def speechy(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    env = (np.sin(np.arange(n) / sr * 2 * np.pi * 3) > 0).astype(np.float32)
    return (rng.normal(0, 0.2, n) * env * 32767 * 0.5).astype(np.int16)


def run(
    model: AudioPerformanceMapper, audio: np.ndarray, sr: int = 16000, chunk: int = 16, **kw: object
) -> np.ndarray:
    s = MotionStream(model, sr, max_chunk=chunk, **kw)  # type: ignore[arg-type]
    s.push_audio(audio)
    s.flush()
    return s.generate_ready()


def test_output_is_valid_motion(tiny_model: AudioPerformanceMapper) -> None:
    out = run(tiny_model, speechy(1.0, 16000))
    assert out.shape == (25, NUM_CHANNELS) and out.dtype == np.float32
    validate_motion(out)  # in range, no clipping needed


def test_same_seed_same_motion_other_seed_differs(tiny_model: AudioPerformanceMapper) -> None:
    audio = speechy(1.0, 16000)
    a, b = run(tiny_model, audio, seed=3), run(tiny_model, audio, seed=3)
    c = run(tiny_model, audio, seed=4)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_state_size_constant(tiny_model: AudioPerformanceMapper) -> None:
    s = MotionStream(tiny_model, 16000)
    shape = s.state.frames.shape
    for i in range(40):
        s.push_audio(speechy(0.2, 16000, seed=i))
        while s.frames_ready:
            s.generate(min(s.frames_ready, 1 + i % 32))
        assert s.state.frames.shape == shape == (32, tiny_model.config.motion_dim)
    # the stream keeps only a bounded tail of features and samples
    assert len(s._feats) < 60
    assert len(s._mel._buf) < 16000


@pytest.mark.parametrize("n", [1, 2, 7, 16, 31, 32])
def test_any_chunk_size(tiny_model: AudioPerformanceMapper, n: int) -> None:
    s = MotionStream(tiny_model, 22050)
    s.push_audio(speechy(2.0, 22050))
    assert s.frames_ready >= 32
    out = s.generate(n)
    assert out.shape == (n, NUM_CHANNELS)
    assert s.frames_done == n


@pytest.mark.parametrize("fps", [25, 30, 60])
def test_fps_and_flush_cover_the_audio(tiny_model: AudioPerformanceMapper, fps: int) -> None:
    s = MotionStream(tiny_model, 44100, fps=fps)
    s.push_audio(speechy(1.0, 44100))
    before = s.samples_pushed
    added = s.flush()
    assert s.samples_pushed == before + added
    assert fps <= s.frames_ready <= fps + 2  # every frame inside the 1 s of audio, + the pad
    assert s.flush() == 0  # nothing left uncovered


def test_first_frames_ready_after_lookahead(tiny_model: AudioPerformanceMapper) -> None:
    """Frame 0 needs audio through 0 + 12.5 ms (window) + lookahead, not a whole chunk."""
    for look in (0, 40, 80):
        s = MotionStream(tiny_model, 16000, lookahead_ms=look)
        got = None
        for ms in range(1, 400):
            s.push_audio(np.zeros(16, dtype=np.int16))
            if s.frames_ready and got is None:
                got = ms
        assert got is not None and got <= look + 13 + 10


def test_zero_and_clipped_audio_are_valid(tiny_model: AudioPerformanceMapper) -> None:
    assert run(tiny_model, np.zeros(16000, dtype=np.int16)).shape == (25, NUM_CHANNELS)
    loud = np.where(np.arange(16000) % 20 < 10, 32767, -32768).astype(np.int16)
    assert np.isfinite(run(tiny_model, loud)).all()


def test_drop_pending_audio(tiny_model: AudioPerformanceMapper) -> None:
    s = MotionStream(tiny_model, 44100)
    s.push_audio(speechy(2.0, 44100))
    s.generate(10)
    dropped = s.drop_pending_audio()
    assert s.samples_pushed == 10 * 44100 // 25
    assert dropped == 2 * 44100 - s.samples_pushed
    assert s.frames_ready == 0
    s.push_audio(speechy(1.0, 44100))
    s.flush()
    assert s.frames_done + s.frames_ready == 35
    assert s.generate_ready().shape == (25, NUM_CHANNELS)
    assert s.drop_pending_audio() >= 0


def test_prepare_batch_commit_matches_generate(tiny_model: AudioPerformanceMapper) -> None:
    streams = [MotionStream(tiny_model, 16000, seed=i) for i in range(3)]
    refs = [MotionStream(tiny_model, 16000, seed=i) for i in range(3)]
    for i, (a, b) in enumerate(zip(streams, refs, strict=True)):
        a.push_audio(speechy(1.0, 16000, seed=i))
        b.push_audio(speechy(1.0, 16000, seed=i))
    reqs = [s.prepare(8) for s in streams]
    outs = tiny_model.sample_batch(reqs)
    for s, r, o, ref in zip(streams, reqs, outs, refs, strict=True):
        s.commit(r, o)
        assert np.allclose(o, ref.generate(8), atol=1e-5)
    with pytest.raises(PreconditionError):
        streams[0].commit(reqs[0], outs[0])  # twice
    mixed = [streams[0].prepare(4), streams[1].prepare(9)]
    assert [o.shape[0] for o in sample_batch(tiny_model, mixed)] == [4, 9]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"sample_rate": 7999}, "sample_rate"), ({"sample_rate": 96000}, "sample_rate"),
     ({"fps": 24}, "fps"), ({"num_steps": 0}, "num_steps"), ({"num_steps": 33}, "num_steps"),
     ({"lookahead_ms": 90}, "lookahead_ms"), ({"lookahead_ms": -1}, "lookahead_ms"),
     ({"max_chunk": 0}, "max_chunk"), ({"max_chunk": 33}, "max_chunk"), ({"seed": -1}, "seed")],
)  # fmt: skip
def test_bad_config(tiny_model: AudioPerformanceMapper, kwargs: dict[str, int], field: str) -> None:
    with pytest.raises((ConfigError, AudioError)) as e:
        MotionStream(tiny_model, **kwargs)  # type: ignore[arg-type]
    assert e.value.field == field


def test_bad_generate_and_push(tiny_model: AudioPerformanceMapper) -> None:
    s = MotionStream(tiny_model, 16000)
    with pytest.raises(AudioError):
        s.push_audio(np.zeros((100, 2), dtype=np.int16))
    s.push_audio(speechy(0.5, 16000))
    for n in (0, 33):
        with pytest.raises(ConfigError):
            s.generate(n)
    with pytest.raises(PreconditionError):
        s.generate(s.frames_ready + 1)


def test_chunks_of_different_lengths_share_a_call_and_match_alone() -> None:
    """A state-prefix mapper samples live jobs of 1, 2 and 3 frames in one padded call: every
    real frame must be what its chunk alone gives (the padding is hidden from it)."""
    torch.manual_seed(0)
    cfg = MotionMapperConfig(
        d_model=32, n_layers=2, n_heads=4, d_ff=64, audio_hidden=16, state_prefix=True
    )
    model = AudioPerformanceMapper(cfg).eval()
    lengths = [3, 1, 2, 1, 5]
    streams = [MotionStream(model, 16000, seed=i) for i in range(len(lengths))]
    for i, s in enumerate(streams):
        s.push_audio(speechy(1.0, 16000, seed=i))
        s.generate(2 + i)  # different states and positions
    reqs = [s.prepare(n) for s, n in zip(streams, lengths, strict=True)]
    calls = 0
    encode = model.encode_condition

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return encode(*args, **kwargs)

    model.encode_condition = counted  # type: ignore[method-assign]
    together = sample_batch(model, reqs)
    assert calls == 1  # one call, not one per length
    model.encode_condition = encode  # type: ignore[method-assign]
    for r, got in zip(reqs, together, strict=True):
        alone = sample_batch(model, [r])[0]
        assert got.shape == alone.shape == (r.n, NUM_CHANNELS)
        assert np.allclose(got, alone, atol=1e-5), np.abs(got - alone).max()


def test_length_groups_bound_the_padding() -> None:
    # Without a state prefix: one group per length.
    assert sorted(map(sorted, _length_groups([1, 2, 1, 3], padded=False))) == [[0, 2], [1], [3]]
    # With it: short jobs together; a 16-frame chunk would pad five 1-frame jobs by 75 frames.
    assert _length_groups([1, 2, 1, 3], padded=True) == [[0, 2, 1, 3]]
    groups = _length_groups([16, 1, 1, 1, 1, 1], padded=True)
    assert sorted(map(sorted, groups)) == [[0], [1, 2, 3, 4, 5]]
    for g in _length_groups([1, 2, 3, 4, 8, 12, 16, 16, 1], padded=True):
        lens = [[1, 2, 3, 4, 8, 12, 16, 16, 1][i] for i in g]
        assert len(lens) * max(lens) - sum(lens) <= PAD_FRAMES


def test_mouth_smoothing_is_a_causal_one_pole_on_the_lips() -> None:
    from lpm_bridge.motion import CH
    from lpm_bridge.visemes import MOUTH_CHANNELS

    from .conftest import tiny_config

    cfg = tiny_config()
    cfg.state_hidden_channels = list(MOUTH_CHANNELS)  # lips don't feed back: exact comparison
    torch.manual_seed(0)
    model = AudioPerformanceMapper(cfg).eval()
    audio = speechy(1.0, 16000)
    raw = run(model, audio, chunk=1, seed=2)
    cfg.mouth_smoothing = 0.4
    smooth = run(model, audio, chunk=1, seed=2)
    lips = [CH[c] for c in MOUTH_CHANNELS]
    others = [i for i in range(NUM_CHANNELS) if i not in lips]
    assert np.array_equal(raw[:, others], smooth[:, others])
    expect = np.zeros_like(raw[:, lips])
    prev = np.asarray(cfg.rest_pose, dtype=np.float32)[lips]
    for k in range(len(raw)):
        prev = expect[k] = 0.4 * prev + 0.6 * raw[k, lips]
    np.testing.assert_allclose(smooth[:, lips], expect, atol=1e-6)
    # 60 fps keeps the same time constant: 0.4 ** (25 / 60) per frame
    assert cfg.mouth_keep_at(60) == pytest.approx(0.4 ** (25 / 60))
