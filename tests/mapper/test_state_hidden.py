"""Channels hidden from the state buffer: the live-collapse fix (MotionMapperConfig)."""

import pytest
import torch

from lpm_bridge.mapper import AudioPerformanceMapper, MotionMapperConfig
from lpm_bridge.visemes import MOUTH_CHANNELS

from .conftest import tiny_config


def _cond_inputs(cfg: MotionMapperConfig, state: torch.Tensor) -> tuple[torch.Tensor, ...]:
    b, n = state.shape[0], 2
    audio = torch.randn(
        b, n, cfg.audio_window, cfg.n_mels, generator=torch.Generator().manual_seed(1)
    )
    return audio, state, torch.full((b,), 2), torch.zeros(b, dtype=torch.long)


def _velocity(model: AudioPerformanceMapper, state: torch.Tensor) -> torch.Tensor:
    cfg = model.config
    audio, state, look, fps = _cond_inputs(cfg, state)
    x = torch.randn(state.shape[0], 2, cfg.motion_dim, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        return model.velocity(
            x, torch.full((state.shape[0],), 0.5), model.encode_condition(audio, state, look, fps)
        )


def test_hidden_mouth_channels_do_not_reach_the_network() -> None:
    cfg = tiny_config()
    cfg.state_hidden_channels = list(MOUTH_CHANNELS)
    torch.manual_seed(0)
    model = AudioPerformanceMapper(cfg).eval()
    mouth = [i for i, c in enumerate(cfg.active_channels) if c in MOUTH_CHANNELS]
    other = [i for i, c in enumerate(cfg.active_channels) if c not in MOUTH_CHANNELS]
    state = torch.zeros(1, cfg.state_frames, cfg.motion_dim)
    changed = state.clone()
    changed[..., mouth] = 3.0  # a wide-open mouth in every past frame
    assert torch.allclose(_velocity(model, state), _velocity(model, changed))
    head = state.clone()
    head[..., other] = 3.0  # the head, lids and brows are still seen
    assert not torch.allclose(_velocity(model, state), _velocity(model, head))


def test_config_round_trips_and_refuses_unknown_channels(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = tiny_config()
    cfg.state_hidden_channels = ["jawOpen"]
    cfg.save_pretrained(tmp_path)
    assert MotionMapperConfig.from_pretrained(tmp_path).state_hidden_channels == ["jawOpen"]
    with pytest.raises(ValueError, match="not active"):
        MotionMapperConfig(state_hidden_channels=["noSuchChannel"])
