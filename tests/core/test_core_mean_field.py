"""Mean-field ERNIE: the Wasserstein attack stays within its budget, beats random moves, and the
penalty form trades damage for transport cost."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ernie_traffic.core import MeanFieldRegularizer, RegularizerConfig, wasserstein_attack
from ernie_traffic.core.mean_field import ground_cost_matrix
from ernie_traffic.errors import UserInputError

BINS, STATE, ACTIONS = 6, 3, 4


class _MeanFieldQ(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(STATE + BINS, 32), nn.Tanh(), nn.Linear(32, ACTIONS))

    def forward(self, state: torch.Tensor, distribution: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([state, distribution], dim=1))


def _batch():
    torch.manual_seed(1)
    return torch.randn(64, STATE), torch.softmax(torch.randn(64, BINS) * 2, dim=1)


def _wasserstein_1d(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """W1 between histograms on bins equally spaced on [0, 1]: Σ|CDF_a − CDF_b| · bin spacing."""
    return (a.cumsum(1) - b.cumsum(1)).abs().sum(1) / (a.shape[1] - 1)


@pytest.mark.parametrize("metric", ["discrete", "linear"])
@pytest.mark.parametrize("epsilon", [0.02, 0.1, 0.3])
def test_attack_stays_within_its_wasserstein_budget(metric, epsilon):
    q = _MeanFieldQ()
    state, d = _batch()
    cfg = RegularizerConfig(kind="mean_field", epsilon=epsilon, steps=10, ground_metric=metric)
    attack = wasserstein_attack(q, state, d, cfg)
    moved = attack.distribution
    assert (moved >= 0).all() and torch.allclose(moved.sum(1), torch.ones(len(d)), atol=1e-6)
    distance = 0.5 * (moved - d).abs().sum(1) if metric == "discrete" else _wasserstein_1d(moved, d)
    assert (distance <= attack.transport_cost + 1e-6).all()
    assert (attack.transport_cost <= epsilon * (1 + 1e-6)).all()
    # The budget is used, not wasted: the attack moves (almost) all the mass it may.
    assert distance.mean() > 0.5 * epsilon


def test_attack_beats_random_transport_within_the_same_budget():
    q = _MeanFieldQ()
    state, d = _batch()
    adversarial = wasserstein_attack(q, state, d, RegularizerConfig(kind="mean_field", epsilon=0.1, steps=10))
    randoms = [
        wasserstein_attack(q, state, d, RegularizerConfig(kind="mean_field", epsilon=0.1, mode="gaussian"))
        for _ in range(20)
    ]
    best_random = torch.stack([r.score for r in randoms]).amax(0)
    assert adversarial.score.mean() > 1.5 * best_random.mean()


def test_penalty_form_spends_less_transport():
    q = _MeanFieldQ()
    state, d = _batch()
    costs = []
    for penalty in (0.0, 0.03, 0.3):
        cfg = RegularizerConfig(kind="mean_field", epsilon=0.3, steps=20, transport_penalty=penalty)
        costs.append(float(wasserstein_attack(q, state, d, cfg).transport_cost.mean()))
    assert costs[0] > costs[1] > costs[2]


def test_regularizer_trains_q_and_checks_its_inputs():
    q = _MeanFieldQ()
    state, d = _batch()
    reg = MeanFieldRegularizer(RegularizerConfig(kind="mean_field", epsilon=0.1, weight=1.0))
    loss = reg(q, state, d, ground_cost=ground_cost_matrix(BINS, "linear"))
    assert loss.item() == pytest.approx(reg.last_value) and reg.last_value > 0
    loss.backward()
    assert q.body[0].weight.grad.abs().sum() > 0
    with pytest.raises(UserInputError, match="sum to 1"):
        reg(q, state, d * 2)
    with pytest.raises(UserInputError, match="ground_cost"):
        reg(q, state, d, ground_cost=torch.ones(BINS, BINS))
