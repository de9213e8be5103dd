"""The mapper's sampling path (functional blocks) computes what its training modules compute."""

import pytest
import torch

from lpm_bridge.mapper import AudioPerformanceMapper, MotionMapperConfig


def model(n_layers: int) -> AudioPerformanceMapper:
    torch.manual_seed(1)
    cfg = MotionMapperConfig(d_model=32, n_layers=n_layers, n_heads=4, d_ff=64, audio_hidden=16)
    m = AudioPerformanceMapper(cfg).eval()
    with torch.no_grad():  # weights well away from the small init, so every term matters
        for p in m.parameters():
            p.normal_(0.0, 0.3)
    return m


def inputs(m: AudioPerformanceMapper, b: int, n: int) -> tuple[torch.Tensor, ...]:
    cfg = m.config
    w = cfg.past_frames + 1 + cfg.lookahead_frames
    return (
        torch.randn(b, n, cfg.motion_dim),
        torch.rand(b),
        torch.randn(b, n, w, cfg.n_mels),
        torch.randn(b, cfg.state_frames, cfg.motion_dim),
        torch.randint(0, cfg.lookahead_frames + 1, (b,)),
        torch.zeros(b, dtype=torch.long),
    )


@pytest.mark.parametrize(("n_layers", "b", "n"), [(1, 1, 1), (3, 5, 1), (3, 2, 7), (2, 3, 32)])
def test_sampling_path_matches_the_modules(n_layers: int, b: int, n: int) -> None:
    m = model(n_layers)
    x = inputs(m, b, n)
    with torch.enable_grad():
        trained = m(*x)  # the training path: nn.TransformerEncoder
    with torch.inference_mode():
        fast = m(*x)  # the sampling path: functional blocks, last layer kept rows only
    assert trained.shape == fast.shape == (b, n, m.config.motion_dim)
    assert trained.requires_grad and not fast.requires_grad
    assert float(trained.detach().abs().mean()) > 0.1  # a real signal, not ~0
    torch.testing.assert_close(fast, trained.detach(), rtol=1e-4, atol=1e-4)


def test_training_mode_uses_the_modules() -> None:
    m = model(2).train()
    x = inputs(m, 2, 3)
    with torch.no_grad():
        out = m(*x)  # train mode: the modules, so dropout or hooks there would apply
    m.eval()
    with torch.inference_mode():
        torch.testing.assert_close(m(*x), out, rtol=1e-4, atol=1e-4)
