"""ERNIE-A: the greedy joint-action search against brute force, its cost, masks and the regularizer."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from ernie_traffic.core import (
    JointActionRegularizer,
    RegularizerConfig,
    greedy_joint_action_search,
    random_joint_actions,
)
from ernie_traffic.errors import UserInputError

AGENTS, ACTIONS, STATE = 4, 3, 5


class _GlobalQ(nn.Module):
    """Q(s, a) from the state and the one-hot joint action."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(nn.Linear(STATE + AGENTS * ACTIONS, 32), nn.Tanh(), nn.Linear(32, 1))
        self.calls = 0

    def forward(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        self.calls += len(actions)
        one_hot = nn.functional.one_hot(actions, ACTIONS).flatten(1).float()
        return self.body(torch.cat([state, one_hot], dim=1)).squeeze(1)


def _brute_force(q_fn, state, actions, max_changed, objective="squared"):
    """Best score over every joint action within Hamming distance max_changed (the whole joint space)."""
    all_joint = torch.tensor(list(itertools.product(range(ACTIONS), repeat=AGENTS)))
    best = []
    with torch.no_grad():
        for s, a in zip(state, actions, strict=True):
            q = q_fn(s.expand(len(all_joint), -1), all_joint)
            q0 = q_fn(s[None], a[None])
            hamming = (all_joint != a).sum(1)
            allowed = (hamming >= 1) & (hamming <= max_changed)
            change = q0 - q if objective == "decrease" else (q0 - q).square()
            best.append(change[allowed].max())
    return torch.stack(best)


def _batch(seed: int = 1):
    torch.manual_seed(seed)
    return torch.randn(32, STATE), torch.randint(0, ACTIONS, (32, AGENTS))


def test_greedy_equals_brute_force_for_one_agent_changed():
    q = _GlobalQ()
    state, actions = _batch()
    search = greedy_joint_action_search(q, state, actions, max_changed=1, n_actions=ACTIONS)
    assert torch.allclose(search.score, _brute_force(q, state, actions, 1), atol=1e-6)
    assert ((search.actions != actions).sum(1) == 1).all()


def test_greedy_is_a_lower_bound_for_two_agents_changed():
    q = _GlobalQ()
    state, actions = _batch()
    one = greedy_joint_action_search(q, state, actions, max_changed=1, n_actions=ACTIONS)
    two = greedy_joint_action_search(q, state, actions, max_changed=2, n_actions=ACTIONS)
    exact = _brute_force(q, state, actions, 2)
    assert (two.score <= exact + 1e-6).all()
    assert (two.score >= one.score - 1e-7).all()  # never worse than K = 1
    assert ((two.actions != actions).sum(1) <= 2).all()
    # On this network greedy finds the exact K = 2 optimum for most states, not all (hence "lower bound").
    assert (two.score >= exact - 1e-6).float().mean() > 0.5


def test_greedy_is_exact_for_an_additive_q_and_the_decrease_objective():
    """Q = Σ_i q_i(s, a_i): the K largest single-agent decreases are the exact K-change optimum."""
    torch.manual_seed(2)
    tables = torch.randn(AGENTS, ACTIONS)

    def additive_q(state, actions):
        return tables[torch.arange(AGENTS), actions].sum(1) + state.sum(1)

    state, actions = _batch()
    search = greedy_joint_action_search(
        additive_q, state, actions, max_changed=2, n_actions=ACTIONS, objective="decrease"
    )
    assert torch.allclose(search.score, _brute_force(additive_q, state, actions, 2, "decrease"), atol=1e-6)
    assert torch.allclose(search.q_perturbed, additive_q(state, search.actions))


def test_search_costs_agents_times_actions_times_k_evaluations():
    q = _GlobalQ()
    state, actions = _batch()
    greedy_joint_action_search(q, state, actions, max_changed=2, n_actions=ACTIONS)
    assert q.calls == len(state) * (1 + 2 * AGENTS * ACTIONS)  # |A|^N = 81 would be enumeration


def test_heterogeneous_action_counts_are_respected():
    q = _GlobalQ()
    state, _ = _batch()
    mask = torch.ones(AGENTS, ACTIONS, dtype=torch.bool)
    mask[1, 2] = False  # agent 1 has two actions
    mask[3, 1:] = False  # agent 3 has one action: it can never be changed
    actions = torch.zeros(len(state), AGENTS, dtype=torch.long)
    for k in (1, 2, 3):
        found = greedy_joint_action_search(q, state, actions, k, action_mask=mask).actions
        assert mask[torch.arange(AGENTS), found].all()
        assert (found[:, 3] == 0).all()
        randomised = random_joint_actions(actions, k, mask)
        assert mask[torch.arange(AGENTS), randomised].all()
        assert ((randomised != actions).sum(1) <= k).all()


def test_regularizer_value_gradient_and_modes():
    q = _GlobalQ()
    state, actions = _batch()
    reg = JointActionRegularizer(RegularizerConfig(kind="action", agents_changed=1, weight=2.0))
    loss = reg(q, state, actions, n_actions=ACTIONS)
    assert loss.item() == pytest.approx(2.0 * reg.last_value, rel=1e-6)
    assert reg.last_value == pytest.approx(float(_brute_force(q, state, actions, 1).mean()), rel=1e-4)
    loss.backward()
    assert q.body[0].weight.grad.abs().sum() > 0 and q.body[2].weight.grad.abs().sum() > 0
    assert q.body[2].bias.grad.abs().max() < 1e-6  # a constant shift of Q cancels in Q(s,a) − Q(s,a')
    random_reg = JointActionRegularizer(RegularizerConfig(kind="action", mode="gaussian"))
    random_reg(q, state, actions, n_actions=ACTIONS)
    assert random_reg.last_value < reg.last_value  # the adversary beats random changes


def test_missing_action_count_and_bad_mask_are_user_errors():
    q = _GlobalQ()
    state, actions = _batch()
    with pytest.raises(UserInputError, match="n_actions"):
        greedy_joint_action_search(q, state, actions)
    with pytest.raises(UserInputError, match="action_mask"):
        greedy_joint_action_search(q, state, actions, action_mask=torch.ones(AGENTS + 1, ACTIONS))
