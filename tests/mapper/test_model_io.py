"""Checkpoints: save/load round trip, the shipped default, and broken directories."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from lpm_bridge.errors import CheckpointError
from lpm_bridge.mapper import (
    DEFAULT_MODEL_DIR,
    AudioPerformanceMapper,
    MapperNet,
    MotionMapperConfig,
    MotionStream,
    load_motion_model,
    load_motion_net,
    save_motion_model,
)

from .conftest import tiny_config


def _motion(model: MapperNet, audio_seed: int, seed: int) -> np.ndarray:
    """8 frames of ``model``'s motion for 1 s of noise (``audio_seed``), sampled with ``seed``."""
    audio = (np.random.default_rng(audio_seed).normal(0, 3000, 16000)).astype(np.int16)
    s = MotionStream(model, 16000, seed=seed)
    s.push_audio(audio)
    return s.generate(8)


def test_roundtrip(tiny_model: AudioPerformanceMapper, tmp_path: Path) -> None:
    save_motion_model(tiny_model, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"config.json", "model.safetensors"}
    loaded = load_motion_model(tmp_path)
    for (k, a), b in zip(
        tiny_model.state_dict().items(), loaded.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), k
    assert np.array_equal(_motion(tiny_model, 0, 1), _motion(loaded, 0, 1))


def test_shipped_default_loads_offline() -> None:
    model = load_motion_model()
    assert (DEFAULT_MODEL_DIR / "model.safetensors").stat().st_size < 8 * 2**20
    assert not model.training
    assert model.config.state_prefix  # sampling caches the state across ODE steps


def test_plain_net_is_the_same_network(tiny_model: AudioPerformanceMapper, tmp_path: Path) -> None:
    """``load_motion_net`` (what the compute processes load): the same weights, the same motion,
    and a checkpoint that does not match is refused the same way."""
    save_motion_model(tiny_model, tmp_path / "ck")
    net = load_motion_net(tmp_path / "ck")
    assert type(net) is MapperNet and not net.training
    assert net.state_dict().keys() == tiny_model.state_dict().keys()
    assert np.array_equal(_motion(tiny_model, 1, 2), _motion(net, 1, 2))
    (tmp_path / "ck" / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError) as e:
        load_motion_net(tmp_path / "ck")
    assert e.value.field == "model.safetensors"


@pytest.fixture
def ckpt(tiny_model: AudioPerformanceMapper, tmp_path: Path) -> Path:
    save_motion_model(tiny_model, tmp_path / "ck")
    return tmp_path / "ck"


def _edit_config(path: Path, **changes: object) -> None:
    cfg = json.loads((path / "config.json").read_text())
    cfg.update(changes)
    (path / "config.json").write_text(json.dumps(cfg))


def test_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as e:
        load_motion_model(tmp_path / "nope")
    assert e.value.field == "path"


@pytest.mark.parametrize("name", ["config.json", "model.safetensors"])
def test_missing_file(ckpt: Path, name: str) -> None:
    (ckpt / name).unlink()
    with pytest.raises(CheckpointError) as e:
        load_motion_model(ckpt)
    assert e.value.field == name


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"model_type": "bert"}, "model_type"), ({"motion_mean": [0.0]}, "motion_mean"),
     ({"active_channels": ["jawOpen", "notAChannel"]}, "active_channels"),
     ({"motion_std": [0.0] * 25}, "motion_std"), ({"rest_pose": [0.0]}, "rest_pose")],
)  # fmt: skip
def test_wrong_config(ckpt: Path, changes: dict[str, object], field: str) -> None:
    _edit_config(ckpt, **changes)
    with pytest.raises(CheckpointError) as e:
        load_motion_model(ckpt)
    assert e.value.field == field


def test_config_not_json(ckpt: Path) -> None:
    (ckpt / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError):
        load_motion_model(ckpt)


def test_weights_of_another_size(ckpt: Path, tmp_path: Path) -> None:
    _edit_config(ckpt, d_model=32)
    with pytest.raises(CheckpointError) as e:
        load_motion_model(ckpt)
    assert e.value.field == "model.safetensors"


def test_corrupt_weights(ckpt: Path) -> None:
    (ckpt / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError):
        load_motion_model(ckpt)


def test_missing_tensor(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    model = AudioPerformanceMapper(tiny_config())
    save_motion_model(model, tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    state.pop("out.weight")
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match="missing"):
        load_motion_model(tmp_path)
    shutil.rmtree(tmp_path)
    assert isinstance(MotionMapperConfig(), MotionMapperConfig)


def test_eyelid_temperature_follows_the_frame_rate(tmp_path: Path) -> None:
    """60 fps draws eyelid noise 2.4x as often per second as 25: its own temperature keeps
    the blink rate human (docs/performance.md), and only the eyelid channels change."""
    from lpm_bridge.mapper.stream import EYELID_CHANNELS, noise_scale
    from lpm_bridge.training.train import EYE_TEMPERATURE

    shipped = load_motion_model(None).config
    assert shipped.eye_temperature_at(60) < shipped.eye_temperature_at(25) == EYE_TEMPERATURE
    at25, at60 = noise_scale(shipped, 25), noise_scale(shipped, 60)
    eyelids = [c in EYELID_CHANNELS for c in shipped.active_channels]
    assert any(eyelids)
    for i, is_eyelid in enumerate(eyelids):
        assert (at60[i] < at25[i]) if is_eyelid else (at60[i] == at25[i])
    # The per-fps map survives save_pretrained / from_pretrained (JSON keys are strings).
    cfg = tiny_config()
    cfg.eye_temperature, cfg.eye_temperature_by_fps = 1.2, {"60": 1.1}
    save_motion_model(AudioPerformanceMapper(cfg), tmp_path)
    loaded = load_motion_model(tmp_path).config
    assert (loaded.eye_temperature_at(30), loaded.eye_temperature_at(60)) == (1.2, 1.1)
