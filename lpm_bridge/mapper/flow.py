"""Flow matching for the audio performance mapper: probability path, loss and a stateless solver.

Role in the LPM design: motion is generated, not regressed, because blinks and head movement are
not determined by the audio and regression would average them away. Training uses the rectified
flow (conditional optimal-transport) path ``x_t = (1 - t) x_0 + t x_1`` from Gaussian noise
``x_0`` to data ``x_1``, and the network learns the velocity ``x_1 - x_0`` (velocity
prediction). Sampling integrates ``dx/dt = v(x, t | cond)`` from ``t = 0`` to ``1`` in a few
steps with ``ODESolver.sample(x_init, time_grid, **cond)``, which keeps no state between calls:
the same inputs always give the same output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import torch
from torch import Tensor

from lpm_bridge.errors import ConfigError

MIN_STEPS: Final[int] = 1
MAX_STEPS: Final[int] = 32
DEFAULT_STEPS: Final[int] = 4

# v(x (B, ...), t (B,), **cond) -> (B, ...)
VelocityFn = Callable[..., Tensor]
Method = Literal["euler", "midpoint", "heun"]


@dataclass(frozen=True)
class PathSample:
    """A point on the probability path: ``x_t`` and its target velocity ``dx_t``, both (B, ...)."""

    x_t: Tensor
    t: Tensor  # (B,)
    dx_t: Tensor


def _expand(t: Tensor, like: Tensor) -> Tensor:
    """(B,) -> (B, 1, ..., 1) broadcastable against ``like``."""
    return t.reshape(-1, *([1] * (like.dim() - 1)))


def rectified_path(x_0: Tensor, x_1: Tensor, t: Tensor) -> PathSample:
    """Rectified-flow path: ``x_t = (1 - t) x_0 + t x_1``, velocity ``x_1 - x_0``; x: (B, ...)."""
    tt = _expand(t, x_0)
    return PathSample(x_t=(1.0 - tt) * x_0 + tt * x_1, t=t, dx_t=x_1 - x_0)


def flow_matching_loss(
    velocity_fn: VelocityFn,
    x_1: Tensor,
    *,
    generator: torch.Generator | None = None,
    channel_weights: Tensor | None = None,
    frame_weights: Tensor | None = None,
    **cond: Any,
) -> Tensor:
    """Conditional flow-matching loss: mean ``w * (v(x_t, t) - (x_1 - x_0))^2``; x_1: (B, n, C).

    ``t`` is drawn uniformly in [0, 1) per example and ``x_0`` from N(0, I). ``channel_weights``
    (C,) and ``frame_weights`` (B, n) scale the squared error per channel and per frame.
    """
    x_0 = torch.randn(x_1.shape, generator=generator, dtype=x_1.dtype, device=x_1.device)
    t = torch.rand(x_1.shape[0], generator=generator, dtype=x_1.dtype, device=x_1.device)
    path = rectified_path(x_0, x_1, t)
    err = (velocity_fn(path.x_t, path.t, **cond) - path.dx_t) ** 2
    if channel_weights is not None:
        err = err * channel_weights
    if frame_weights is not None:
        err = err * frame_weights[..., None]
    return err.mean()


def uniform_time_grid(num_steps: int, *, device: torch.device | str = "cpu") -> Tensor:
    """``num_steps + 1`` evenly spaced times from 0 to 1: (num_steps + 1,)."""
    if isinstance(num_steps, bool) or not isinstance(num_steps, int):
        raise ConfigError(f"num_steps must be an integer, got {num_steps!r}", field="num_steps")
    if not MIN_STEPS <= num_steps <= MAX_STEPS:
        raise ConfigError(
            f"num_steps must be in {MIN_STEPS}..{MAX_STEPS}, got {num_steps}", field="num_steps"
        )
    return torch.linspace(0.0, 1.0, num_steps + 1, device=device)


class ODESolver:
    """Integrates ``dx/dt = velocity_fn(x, t, **cond)`` over a time grid. Holds no state.

    ``method``: ``"euler"`` (one evaluation per step), ``"midpoint"`` or ``"heun"`` (two).
    """

    def __init__(self, velocity_fn: VelocityFn, method: Method = "euler") -> None:
        if method not in ("euler", "midpoint", "heun"):
            raise ConfigError(f"unknown ODE method {method!r}", field="method")
        self.velocity_fn = velocity_fn
        self.method: Method = method

    def _v(self, x: Tensor, t: Tensor | float, **cond: Any) -> Tensor:
        tb = torch.full((x.shape[0],), float(t), dtype=x.dtype, device=x.device)
        return self.velocity_fn(x, tb, **cond)

    @torch.no_grad()
    def sample(self, x_init: Tensor, time_grid: Tensor, **cond: Any) -> Tensor:
        """Solve from ``time_grid[0]`` to ``time_grid[-1]`` starting at ``x_init`` (B, ...)."""
        if time_grid.dim() != 1 or len(time_grid) < 2:
            raise ConfigError("time_grid must be 1-D with at least 2 times", field="time_grid")
        x = x_init
        for t0, t1 in zip(time_grid[:-1].tolist(), time_grid[1:].tolist(), strict=True):
            h = t1 - t0
            v0 = self._v(x, t0, **cond)
            if self.method == "euler":
                x = x + h * v0
            elif self.method == "midpoint":
                x = x + h * self._v(x + 0.5 * h * v0, t0 + 0.5 * h, **cond)
            else:
                v1 = self._v(x + h * v0, t1, **cond)
                x = x + 0.5 * h * (v0 + v1)
        return x
