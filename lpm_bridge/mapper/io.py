"""Loading and saving mapper checkpoints (``config.json`` + ``model.safetensors``), offline.

Role in the LPM design: the shipped weights live in ``lpm_bridge/assets/motion_model`` and load
with no network. A checkpoint directory that is missing files, has a config of another model or
inconsistent sizes, or weights that do not match the config is a ``CheckpointError``; weights are
loaded strictly, so nothing is ever silently left at random initialisation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from lpm_bridge.errors import CheckpointError
from lpm_bridge.mapper.config import MODEL_TYPE, MotionMapperConfig
from lpm_bridge.mapper.net import MapperNet
from lpm_bridge.motion import CH, NUM_CHANNELS

if TYPE_CHECKING:  # imported when used: it pulls in transformers.modeling_utils (~135 MB)
    from lpm_bridge.mapper.model import AudioPerformanceMapper

Net = TypeVar("Net", bound=MapperNet)

DEFAULT_MODEL_DIR: Final[Path] = Path(__file__).resolve().parent.parent / "assets" / "motion_model"
CONFIG_FILE: Final[str] = "config.json"
WEIGHTS_FILE: Final[str] = "model.safetensors"


def _read_config(path: Path) -> MotionMapperConfig:
    cfg_path = path / CONFIG_FILE
    if not cfg_path.is_file():
        raise CheckpointError(f"checkpoint {path} has no {CONFIG_FILE}", field="config.json")
    try:
        raw: dict[str, Any] = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{cfg_path} is not valid JSON: {e}", field="config.json") from e
    if not isinstance(raw, dict) or raw.get("model_type") != MODEL_TYPE:
        got = raw.get("model_type") if isinstance(raw, dict) else type(raw).__name__
        raise CheckpointError(
            f"{cfg_path} is for model_type {got!r}, expected {MODEL_TYPE!r}", field="model_type"
        )
    try:
        config = MotionMapperConfig.from_dict(raw)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{cfg_path} cannot be read: {e}", field="config.json") from e
    _check_config(config)
    return config


def _check_config(config: MotionMapperConfig) -> None:
    unknown = [c for c in config.active_channels if c not in CH]
    if unknown:
        raise CheckpointError(
            f"config names unknown channels {unknown[:5]}", field="active_channels"
        )
    n = config.motion_dim
    for name in ("motion_mean", "motion_std"):
        if len(getattr(config, name)) != n:
            raise CheckpointError(f"config {name} must have {n} values", field=name)
    if len(config.rest_pose) != NUM_CHANNELS:
        raise CheckpointError(
            f"config rest_pose must have {NUM_CHANNELS} values", field="rest_pose"
        )
    if min(config.motion_std) <= 0:
        raise CheckpointError("config motion_std must be positive", field="motion_std")
    if config.state_frames % config.state_patch:
        raise CheckpointError(
            "config state_frames must be a multiple of state_patch", field="state_patch"
        )
    if config.d_model % config.n_heads:
        raise CheckpointError("config d_model must be divisible by n_heads", field="n_heads")


def load_motion_model(
    path: str | Path | None = None, device: str | torch.device = "cpu"
) -> AudioPerformanceMapper:
    """Load a mapper checkpoint (``None``: the shipped one) in eval mode, without network."""
    from lpm_bridge.mapper.model import AudioPerformanceMapper

    return _load(AudioPerformanceMapper, path, device)


def load_motion_net(
    path: str | Path | None = None, device: str | torch.device = "cpu"
) -> MapperNet:
    """``load_motion_model`` as a plain-torch ``MapperNet``: the same weights and outputs,
    without importing ``transformers.modeling_utils`` (what the compute processes load)."""
    return _load(MapperNet, path, device)


def _load(cls: type[Net], path: str | Path | None, device: str | torch.device) -> Net:
    ckpt = DEFAULT_MODEL_DIR if path is None else Path(path)
    if not ckpt.is_dir():
        raise CheckpointError(f"checkpoint directory {ckpt} does not exist", field="path")
    config = _read_config(ckpt)
    weights = ckpt / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"checkpoint {ckpt} has no {WEIGHTS_FILE}", field=WEIGHTS_FILE)
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{weights} cannot be read: {e}", field=WEIGHTS_FILE) from e
    model = cls(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or extra or wrong:
        raise CheckpointError(
            f"{weights} does not match its config: missing {missing[:3]}, unexpected {extra[:3]}, "
            f"wrong shape {wrong[:3]}",
            field=WEIGHTS_FILE,
        )
    model.load_state_dict(state, strict=True)
    model.train(False)
    model.requires_grad_(False)
    torch.nn.Module.to(model, torch.device(device))  # moves in place
    return model


def save_motion_model(model: AudioPerformanceMapper, path: str | Path) -> None:
    """Write ``config.json`` + ``model.safetensors`` with ``save_pretrained``."""
    model.save_pretrained(str(path), safe_serialization=True)
