"""Loss pieces of QCOMBO and COMA against their definitions, on hand-built tensors."""

from __future__ import annotations

import itertools

import pytest
import torch

from ernie_traffic.algorithms.coma import (
    counterfactual_advantage,
    counterfactual_baseline,
    policy_loss,
    td_lambda_returns,
)
from ernie_traffic.algorithms.qcombo import consistency_loss
from ernie_traffic.models.networks import CentralCritic, MultiAgentSpec


def test_consistency_loss_is_zero_when_global_q_is_the_sum_of_local_qs():
    local = torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]])
    assert consistency_loss(local.sum(-1), local).item() == 0.0
    assert consistency_loss(local.sum(-1) + torch.tensor([1.0, 0.0]), local).item() == pytest.approx(0.5)


def test_counterfactual_baseline_matches_its_definition_on_a_hand_built_joint_q():
    # two agents with 2 and 3 actions; Q(s, a1, a2) is an explicit table
    table = torch.tensor([[1.0, 4.0, -2.0], [0.0, 3.0, 5.0]])
    probs = torch.tensor([[0.25, 0.75, 0.0], [0.2, 0.3, 0.5]])  # agent 0 has no third action
    taken = torch.tensor([1, 2])
    # what a critic returns: Q(s, (a_-i, a')) for every a' of agent i (agent 0's a'=2 is padding)
    q_all = torch.stack([torch.cat([table[:, taken[1]], torch.zeros(1)]), table[taken[0], :]])

    baseline = counterfactual_baseline(q_all, probs)
    by_definition = [
        float(sum(probs[0, a] * table[a, taken[1]] for a in range(2))),
        float(sum(probs[1, a] * table[taken[0], a] for a in range(3))),
    ]
    assert baseline.tolist() == pytest.approx(by_definition)
    advantage = counterfactual_advantage(q_all, probs, taken)
    assert advantage.tolist() == pytest.approx([5.0 - by_definition[0], 5.0 - by_definition[1]])


def test_central_critic_row_of_an_agent_ignores_that_agents_own_action():
    torch.manual_seed(0)
    spec = MultiAgentSpec(("a", "b", "c"), (2, 2, 2), (2, 3, 3), state_dim=4)
    critic = CentralCritic(spec, hidden=[16])
    state, obs = torch.randn(1, 4), torch.randn(1, 3, 2)
    for own in range(3):
        for i in range(3):
            base = torch.tensor([[0, 1, 2]])
            changed = base.clone()
            changed[0, i] = own % spec.n_actions[i]
            assert torch.allclose(critic(state, obs, base)[0, i], critic(state, obs, changed)[0, i])
    # while another agent's action does change it
    assert not torch.allclose(
        critic(state, obs, torch.tensor([[0, 0, 0]]))[0, 0],
        critic(state, obs, torch.tensor([[0, 2, 0]]))[0, 0],
    )


def test_td_lambda_returns_reduce_to_one_step_and_monte_carlo_targets():
    rewards = torch.tensor([1.0, 2.0, 3.0])
    next_q = torch.tensor([[10.0], [20.0], [30.0]])
    terminal = torch.zeros(3)
    one_step = td_lambda_returns(rewards, next_q, terminal, gamma=0.5, lam=0.0)
    assert one_step[:, 0].tolist() == pytest.approx([6.0, 12.0, 18.0])
    monte_carlo = td_lambda_returns(rewards, next_q, terminal, gamma=0.5, lam=1.0)
    assert monte_carlo[:, 0].tolist() == pytest.approx(
        [1 + 0.5 * 2 + 0.25 * 3 + 0.125 * 30, 2 + 1.5 + 7.5, 18.0]
    )


def test_joint_action_inputs_never_enumerate_the_joint_space():
    # 21 intersections with 4 phases: 4^21 joint actions, but the global Q input grows linearly
    from ernie_traffic.models.networks import GlobalQ

    spec = MultiAgentSpec(tuple(f"t{i}" for i in range(21)), (10,) * 21, (4,) * 21, state_dim=50)
    q = GlobalQ(spec, hidden=[32])
    actions = torch.tensor(list(itertools.islice(itertools.cycle(range(4)), 21)))[None]
    assert q(torch.zeros(1, 50), actions).shape == (1,)
    assert q.body[0].in_features == 50 + 21 * 4


def test_a_sensors_only_perturbation_leaves_the_signal_state_alone():
    spec = MultiAgentSpec(("a", "b"), (5, 4), (2, 2), state_dim=9, sensor_start=(4, 3))
    everything, sensors = spec.perturb_mask(2), spec.perturb_mask(2, sensors_only=True)
    assert everything[:2, :5].tolist() == [[True] * 5, [True] * 4 + [False]]
    assert sensors[:2, :5].tolist() == [[False] * 4 + [True], [False] * 3 + [True, False]]
    assert torch.equal(sensors[2:], sensors[:2])  # the second sample's rows
    assert not sensors[:, 5:].any()  # the agent id never moves
    assert MultiAgentSpec.from_dict(spec.to_dict()) == spec


def test_clipped_policy_loss_is_the_policy_gradient_at_the_collecting_policy_and_stops_past_the_clip():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 3, 4, generator=g, requires_grad=True)
    actions = torch.randint(4, (5, 3), generator=g)
    advantages = torch.randn(5, 3, generator=g)
    taken = torch.log_softmax(logits, -1).gather(-1, actions[..., None]).squeeze(-1)

    loss, _ = policy_loss(logits, actions, advantages, taken.detach(), entropy_coef=0.0, clip_ratio=0.2)
    (clipped_grad,) = torch.autograd.grad(loss, logits)
    (plain_grad,) = torch.autograd.grad(-(taken * advantages).mean(), logits)
    assert torch.allclose(clipped_grad, plain_grad, atol=1e-7)

    # the collecting policy was much less likely to take these actions: ratio far above 1 + clip,
    # so the actions with a positive advantage get no further push
    loss, _ = policy_loss(logits, actions, advantages, taken.detach() - 1.0, entropy_coef=0.0, clip_ratio=0.2)
    (grad,) = torch.autograd.grad(loss, logits)
    assert grad[advantages > 0].abs().max() == 0
    assert grad[advantages < 0].abs().max() > 0
