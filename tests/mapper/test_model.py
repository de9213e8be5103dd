"""The mapper's sampling path (functional blocks) computes what its training modules compute,
for both designs: state tokens that see the chunk, and state tokens as a cached prefix."""

import pytest
import torch

from lpm_bridge.mapper import AudioPerformanceMapper, MotionMapperConfig


def model(n_layers: int, prefix: bool = False) -> AudioPerformanceMapper:
    torch.manual_seed(1)
    cfg = MotionMapperConfig(
        d_model=32, n_layers=n_layers, n_heads=4, d_ff=64, audio_hidden=16, state_prefix=prefix
    )
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


@pytest.mark.parametrize("prefix", [False, True])
@pytest.mark.parametrize(("n_layers", "b", "n"), [(1, 1, 1), (3, 5, 1), (3, 2, 7), (2, 3, 32)])
def test_sampling_path_matches_the_modules(n_layers: int, b: int, n: int, prefix: bool) -> None:
    m = model(n_layers, prefix)
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


def test_prefix_state_is_computed_once_per_chunk() -> None:
    """With ``state_prefix`` the state's keys and values are made once by ``encode_condition``
    and reused by every ODE step: the velocity at any flow time and noisy chunk is what the
    full masked sequence gives, and the state's keys do not depend on the chunk."""
    m = model(3, prefix=True)
    x_t, _, audio, state, look, fps = inputs(m, 4, 2)
    with torch.inference_mode():
        cond = m.encode_condition(audio, state, look, fps)
        assert cond.state_kv is not None and len(cond.state_kv) == 3
        keys = [k.clone() for k, _ in cond.state_kv]
        other = m.encode_condition(torch.randn_like(audio), state, look, fps)
        assert other.state_kv is not None
        for k, (k2, _) in zip(keys, other.state_kv, strict=True):
            torch.testing.assert_close(k, k2)  # the chunk's audio does not reach the state
        for step in (0.0, 0.25, 0.75):
            tt = torch.full((4,), step)
            cached = m.velocity(x_t * (1 + step), tt, cond)
            with torch.enable_grad():
                full = m(x_t * (1 + step), tt, audio, state, look, fps).detach()
            torch.testing.assert_close(cached, full, rtol=1e-4, atol=1e-4)
    for k, (k2, _) in zip(keys, cond.state_kv, strict=True):
        torch.testing.assert_close(k, k2)  # the steps left the cache as it was


def test_time_embedding_kept_per_time_and_never_stale() -> None:
    """Sampling keeps the flow-time embedding per time; weights changed in place (an EMA
    step, loading) give fresh embeddings, and rows at different times are not mixed up."""
    m = model(1)
    x_t, _, audio, state, look, fps = inputs(m, 3, 1)
    with torch.inference_mode():
        cond = m.encode_condition(audio, state, look, fps)
        t = torch.full((3,), 0.5)
        first = m.velocity(x_t, t, cond)
        torch.testing.assert_close(m.velocity(x_t, t, cond), first)
    with torch.no_grad():
        for p in m.time_mlp.parameters():
            p.mul_(1.3)
    with torch.enable_grad():
        fresh = m(x_t, t, audio, state, look, fps).detach()
    with torch.inference_mode():
        again = m.velocity(x_t, t, cond)
        mixed = m.velocity(x_t, torch.tensor([0.5, 0.25, 0.5]), cond)
    assert float((again - first).abs().max()) > 1e-3
    torch.testing.assert_close(again, fresh, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(mixed[[0, 2]], fresh[[0, 2]], rtol=1e-4, atol=1e-4)
    assert float((mixed[1] - fresh[1]).abs().max()) > 1e-3
