"""The PGD's fast path: the traffic networks' written-out input gradient (``forward_with_input_vjp``)
gives what autograd gives — the gradient, the regularizer's value and parameter gradients in every
mode, and the attacks' perturbations. The reference is the same
network behind a plain callable, which has no written-out gradient, so the PGD takes autograd."""

from __future__ import annotations

import pytest
import torch

from ernie_traffic.core import (
    ObservationRegularizer,
    RegularizerConfig,
    empirical_lipschitz,
    observation_attack,
)
from ernie_traffic.models.networks import MultiAgentSpec, SharedAgentNet

SPECS = {
    "one head": MultiAgentSpec(("a", "b", "c"), (5, 5, 5), (2, 2, 2), state_dim=3),
    "two heads, padded": MultiAgentSpec(("a", "b", "c"), (5, 3, 4), (2, 4, 4), state_dim=3),
}


def _net_and_rows(spec: MultiAgentSpec, dtype: torch.dtype, samples: int = 6):
    torch.manual_seed(0)
    net = SharedAgentNet(spec, hidden=(16, 16)).to(dtype)
    rows = spec.agent_rows(torch.rand(samples, spec.n_agents, spec.max_obs, dtype=dtype))
    return net, rows


def _through_autograd(net: SharedAgentNet):
    return lambda rows: net(rows)


@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_input_vjp_equals_autograds(spec):
    net, rows = _net_and_rows(spec, torch.float64)
    rows.requires_grad_(True)
    outputs = net(rows)
    grad_out = torch.randn_like(outputs)
    (expected,) = torch.autograd.grad(outputs, rows, grad_out)

    written_outputs, vjp = net.forward_with_input_vjp(rows.detach())

    torch.testing.assert_close(written_outputs, outputs, rtol=0, atol=0)
    torch.testing.assert_close(vjp(grad_out), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["plain", "stackelberg", "stackelberg-fd"])
@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_regularizer_value_and_gradients_equal_autograds(spec, mode):
    net, rows = _net_and_rows(spec, torch.float64)
    mask = spec.perturb_mask(6)
    cfg = RegularizerConfig(epsilon=0.2, steps=3, norm="l2", divergence="l2", mode=mode, weight=1.0)

    def value_and_grads(model) -> tuple[torch.Tensor, list[torch.Tensor]]:
        torch.manual_seed(3)  # the same random start in both paths
        net.zero_grad()
        value = ObservationRegularizer(cfg)(model, rows, perturb_mask=mask, params=net.parameters())
        value.backward()
        return value.detach(), [p.grad.clone() for p in net.parameters()]

    fast_value, fast_grads = value_and_grads(net)
    value, grads = value_and_grads(_through_autograd(net))
    torch.testing.assert_close(fast_value, value, rtol=1e-12, atol=0)
    for got, want in zip(fast_grads, grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_attack_and_lipschitz_estimate_equal_autograds(spec, norm):
    # float32 and the stress test's setting (10 steps, 2 restarts), per row its own ball; the written-out
    # gradient runs autograd's own operations, so the perturbations come out the same to the bit
    net, rows = _net_and_rows(spec, torch.float32)
    mask = spec.perturb_mask(6)

    def attack(model) -> torch.Tensor:
        torch.manual_seed(4)
        return observation_attack(model, rows, epsilon=0.05, norm=norm, perturb_mask=mask)

    def lipschitz(model) -> torch.Tensor:
        torch.manual_seed(4)
        return empirical_lipschitz(model, rows, epsilon=0.05, norm=norm, perturb_mask=mask).per_sample

    assert torch.equal(attack(net), attack(_through_autograd(net)))
    assert torch.equal(lipschitz(net), lipschitz(_through_autograd(net)))
