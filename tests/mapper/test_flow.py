"""Flow matching: the solver against closed forms, the path, the loss, step validation."""

import math

import pytest
import torch

from lpm_bridge.errors import ConfigError
from lpm_bridge.mapper.flow import ODESolver, flow_matching_loss, rectified_path, uniform_time_grid


def linear_field(x: torch.Tensor, t: torch.Tensor, a: float) -> torch.Tensor:
    return a * x


@pytest.mark.parametrize("steps", [1, 4, 32])
def test_euler_and_midpoint_closed_forms(steps: int) -> None:
    """dx/dt = a x: Euler gives (1 + a h)^N, midpoint (1 + a h + (a h)^2 / 2)^N exactly."""
    a, h = 0.7, 1.0 / steps
    x0 = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    grid = uniform_time_grid(steps).double()
    euler = ODESolver(linear_field, "euler").sample(x0, grid, a=a)
    mid = ODESolver(linear_field, "midpoint").sample(x0, grid, a=a)
    assert torch.allclose(euler, x0 * (1 + a * h) ** steps)
    assert torch.allclose(mid, x0 * (1 + a * h + (a * h) ** 2 / 2) ** steps)


def test_converges_to_exponential() -> None:
    x0 = torch.ones(1, 3, dtype=torch.float64)
    out = ODESolver(linear_field, "heun").sample(x0, uniform_time_grid(32).double(), a=-1.3)
    assert torch.allclose(out, x0 * math.exp(-1.3), rtol=1e-3)


def test_time_dependent_field() -> None:
    """dx/dt = 2 t: x(1) = x(0) + 1; midpoint is exact for a linear-in-t field."""
    out = ODESolver(lambda x, t: 2 * t[:, None].expand_as(x), "midpoint").sample(
        torch.zeros(2, 1), uniform_time_grid(3)
    )
    assert torch.allclose(out, torch.ones(2, 1), atol=1e-6)


def test_rectified_optimal_field_reaches_data_in_one_step() -> None:
    """For a single data point x1, the optimal velocity is (x1 - x) / (1 - t): straight lines."""
    x1 = torch.tensor([[0.3, -1.2, 2.0]])
    field = lambda x, t: (x1 - x) / (1 - t[:, None])  # noqa: E731
    x0 = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    for steps in (1, 4):
        out = ODESolver(field).sample(x0, uniform_time_grid(steps))
        assert torch.allclose(out, x1.expand(4, 3), atol=1e-5)


def test_path_and_loss() -> None:
    x0, x1 = torch.zeros(2, 3), torch.ones(2, 3)
    p = rectified_path(x0, x1, torch.tensor([0.25, 1.0]))
    assert torch.allclose(p.x_t[0], torch.full((3,), 0.25))
    assert torch.allclose(p.dx_t, x1 - x0)
    x1 = torch.tensor([[0.5, -0.5]]).expand(64, 2)
    oracle = lambda x, t: (x1 - x) / (1 - t[:, None]).clamp_min(1e-6)  # noqa: E731
    assert flow_matching_loss(oracle, x1, generator=torch.Generator().manual_seed(0)) < 1e-8
    zero = lambda x, t: torch.zeros_like(x)  # noqa: E731
    assert flow_matching_loss(zero, x1, generator=torch.Generator().manual_seed(0)) > 0.1


def test_solver_is_stateless() -> None:
    solver = ODESolver(linear_field)
    x0 = torch.randn(3, 2)
    grid = uniform_time_grid(4)
    assert torch.equal(solver.sample(x0, grid, a=0.3), solver.sample(x0, grid, a=0.3))


@pytest.mark.parametrize("steps", [0, 33, -1])
def test_step_range(steps: int) -> None:
    with pytest.raises(ConfigError) as e:
        uniform_time_grid(steps)
    assert e.value.field == "num_steps"


def test_bad_method() -> None:
    with pytest.raises(ConfigError):
        ODESolver(linear_field, "rk45")  # type: ignore[arg-type]
