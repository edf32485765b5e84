"""The Stackelberg gradient reaches .grad: exact = numeric total derivative, ≠ plain, FD ≈ exact."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ernie_traffic.core import ObservationRegularizer, RegularizerConfig

EPSILON = 0.3
SEED = 1


def _network(dtype: torch.dtype) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).to(dtype)


def _regularizer_grad(
    net: nn.Module, obs: torch.Tensor, mode: str, steps: int, divergence: str
) -> torch.Tensor:
    cfg = RegularizerConfig(epsilon=EPSILON, steps=steps, divergence=divergence, mode=mode, weight=1.0)
    torch.manual_seed(SEED)  # the same random start δ_0 in every call
    net.zero_grad()
    ObservationRegularizer(cfg)(net, obs).backward()
    return torch.cat([p.grad.flatten() for p in net.parameters()])


def _numeric_total_derivative(net: nn.Module, obs: torch.Tensor, steps: int, divergence: str) -> torch.Tensor:
    """Central differences of θ ↦ D(f_θ(o + δ_K(θ)), f_θ(o)), δ_K recomputed by the ascent at each θ."""
    cfg = RegularizerConfig(epsilon=EPSILON, steps=steps, divergence=divergence, mode="plain", weight=1.0)
    reg = ObservationRegularizer(cfg)
    params = list(net.parameters())
    theta = nn.utils.parameters_to_vector(params).detach().clone()

    def value(flat: torch.Tensor) -> float:
        nn.utils.vector_to_parameters(flat, params)
        torch.manual_seed(SEED)
        reg(net, obs)
        return reg.last_value

    h = 1e-6
    numeric = torch.zeros_like(theta)
    for i in range(theta.numel()):
        step = torch.zeros_like(theta)
        step[i] = h
        numeric[i] = (value(theta + step) - value(theta - step)) / (2 * h)
    nn.utils.vector_to_parameters(theta, params)
    return numeric


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize(("steps", "divergence"), [(1, "l2"), (3, "l2"), (3, "kl")])
def test_exact_stackelberg_grad_is_the_total_derivative_and_not_the_plain_one(steps, divergence):
    net = _network(torch.float64)
    obs = torch.randn(5, 4, dtype=torch.float64)
    numeric = _numeric_total_derivative(net, obs, steps, divergence)
    exact = _regularizer_grad(net, obs, "stackelberg", steps, divergence)
    plain = _regularizer_grad(net, obs, "plain", steps, divergence)
    assert _relative(exact, numeric) < 1e-3
    # The leader–follower term is what separates them; it is far above the check's tolerance.
    assert _relative(plain, numeric) > 0.05


@pytest.mark.parametrize(
    ("dtype", "tolerance"),
    # Measured: ≤ 6e-5 in float64 (O((fd_step·ε)²) truncation), ≤ 1.3e-4 in float32 (rounding).
    [(torch.float64, 2e-4), (torch.float32, 1e-3)],
)
def test_finite_difference_stackelberg_agrees_with_exact(dtype, tolerance):
    net = _network(dtype)
    obs = torch.randn(16, 4, dtype=dtype)
    for steps in (1, 3, 5):
        exact = _regularizer_grad(net, obs, "stackelberg", steps, "l2")
        finite_difference = _regularizer_grad(net, obs, "stackelberg-fd", steps, "l2")
        plain = _regularizer_grad(net, obs, "plain", steps, "l2")
        assert _relative(finite_difference, exact) < tolerance
        assert _relative(plain, exact) > 0.02  # the leader–follower term, ≥ 100× the tolerance


def test_stackelberg_fd_with_a_plain_callable_needs_params():
    net = _network(torch.float32)
    obs = torch.randn(3, 4)
    reg = ObservationRegularizer(RegularizerConfig(mode="stackelberg-fd"))
    with pytest.raises(Exception, match="params"):
        reg(lambda o: net(o), obs)
    loss = reg(lambda o: net(o), obs, params=net.parameters())
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_optimizer_step_uses_the_stackelberg_gradient():
    net = _network(torch.float64)
    obs = torch.randn(5, 4, dtype=torch.float64)
    before = nn.utils.parameters_to_vector(net.parameters()).detach().clone()
    expected = _regularizer_grad(net, obs, "stackelberg", 3, "l2")
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    optimizer.zero_grad()
    torch.manual_seed(SEED)
    ObservationRegularizer(RegularizerConfig(epsilon=EPSILON, mode="stackelberg", weight=1.0))(
        net, obs
    ).backward()
    optimizer.step()
    after = nn.utils.parameters_to_vector(net.parameters()).detach()
    assert torch.allclose(after, before - 0.1 * expected, atol=1e-12)


def test_every_mode_gives_its_value_under_no_grad():
    net = _network(torch.float64)
    obs = torch.randn(5, 4, dtype=torch.float64)
    values = []
    for mode in ("plain", "stackelberg", "stackelberg-fd"):
        reg = ObservationRegularizer(RegularizerConfig(epsilon=EPSILON, mode=mode, weight=1.0))
        torch.manual_seed(SEED)
        with torch.no_grad():
            loss = reg(net, obs)
        assert not loss.requires_grad
        values.append(reg.last_value)
    assert values[0] == pytest.approx(values[1]) and values[0] == pytest.approx(values[2])


@pytest.mark.parametrize("mode", ["plain", "stackelberg", "stackelberg-fd", "gaussian"])
def test_clean_outputs_from_the_caller_give_the_same_value_and_gradient(mode):
    """A learner that passes its own f(o) (with its graph) skips a forward pass, nothing else."""
    net = _network(torch.float64)
    obs = torch.randn(5, 4, dtype=torch.float64)
    cfg = RegularizerConfig(epsilon=EPSILON, steps=3, mode=mode, weight=1.0)
    results = []
    for clean in (None, net(obs)):
        torch.manual_seed(SEED)
        net.zero_grad()
        value = ObservationRegularizer(cfg)(net, obs, clean=clean)
        value.backward()
        results.append((value.detach(), torch.cat([p.grad.flatten() for p in net.parameters()])))
    (value, grad), (value_with_clean, grad_with_clean) = results
    torch.testing.assert_close(value_with_clean, value, rtol=0, atol=1e-12)
    torch.testing.assert_close(grad_with_clean, grad, rtol=0, atol=1e-12)
    assert grad.abs().sum() > 0
