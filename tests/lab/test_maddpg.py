"""MADDPG's pieces: M3DDPG's bounded minimax step, the update, checkpoint and resume."""

import numpy as np
import pytest
import torch

from ernie_traffic.algorithms import ContinuousTransition
from ernie_traffic.algorithms.maddpg import MADDPG, maddpg_variant, worst_case_others
from ernie_traffic.algorithms.replay import ReplayBuffer
from ernie_traffic.lab.config import LabRunConfig
from ernie_traffic.lab.train import train
from ernie_traffic.models.particle import QCritic


@pytest.mark.parametrize("epsilon", [1e-3, 0.05, 0.5])
def test_m3ddpg_step_stays_in_its_budget_and_lowers_q(epsilon):
    torch.manual_seed(0)
    obs = [torch.randn(64, 4), torch.randn(64, 3), torch.randn(64, 6)]
    actions = [torch.rand(64, 5) * 0.8 + 0.1 for _ in range(3)]
    critic = QCritic(13 + 15, hidden=16)
    moved = worst_case_others(critic, obs, actions, agent=1, epsilon=epsilon)
    assert moved[1] is actions[1]  # the learning agent's own action is untouched
    step = torch.cat([moved[0] - actions[0], moved[2] - actions[2]], dim=-1)
    assert (step.norm(dim=-1) <= epsilon + 1e-6).all()  # float32 rounding of a - step
    assert (step.norm(dim=-1) > 0).all()
    with torch.no_grad():
        assert critic(*obs, *moved).mean() < critic(*obs, *actions).mean()


def _filled_buffer(obs_dims, act_dims, rng):
    buffer = ReplayBuffer(ContinuousTransition, capacity=64)
    for _ in range(64):
        buffer.add(
            ContinuousTransition(
                [rng.normal(size=d).astype(np.float32) for d in obs_dims],
                [rng.uniform(size=d).astype(np.float32) for d in act_dims],
                rng.normal(size=len(obs_dims)),
                [rng.normal(size=d).astype(np.float32) for d in obs_dims],
                0.0,
            )
        )
    return buffer


@pytest.mark.parametrize("name", ["maddpg", "m3ddpg", "gaussian"])
def test_update_moves_actors_and_critics_but_targets_only_by_polyak(name):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    learner = MADDPG([4, 6], [5, 5], maddpg_variant(name, hidden=16, batch_size=32, tau=0.01))
    before = {
        k: [m.state_dict() for m in getattr(learner, k)] for k in ("actors", "critics", "target_actors")
    }
    before = {k: [{n: t.clone() for n, t in s.items()} for s in v] for k, v in before.items()}
    logs = learner.update(_filled_buffer([4, 6], [5, 5], rng).sample(32, rng))
    assert np.isfinite(list(logs.values())).all()
    for i in range(2):
        for group in ("actors", "critics"):
            after = getattr(learner, group)[i].state_dict()
            assert any(not torch.equal(after[n], before[group][i][n]) for n in after)
        # a target moves by tau times the gap, never further
        for n, target in learner.target_actors[i].state_dict().items():
            gap = (learner.actors[i].state_dict()[n] - before["target_actors"][i][n]).abs()
            assert ((target - before["target_actors"][i][n]).abs() <= 0.01 * gap + 1e-7).all()


def test_resumed_run_ends_identical_to_uninterrupted_run(tmp_path):
    def config(episodes):
        return LabRunConfig(
            learner="m3ddpg",
            env={"max_cycles": 10},
            episodes=episodes,
            warmup_episodes=2,
            updates_per_episode=2,
            checkpoint_every=3,
            algorithm={"hidden": 8, "batch_size": 16},
        )

    whole = train(config(6), tmp_path / "whole", quiet=True)
    train(config(3), tmp_path / "split", quiet=True)
    # the interrupted run had 3 episodes as its goal; raise the goal and continue from its checkpoint
    (tmp_path / "split" / "config.yaml").write_text((tmp_path / "whole" / "config.yaml").read_text())
    resumed = train(None, tmp_path / "split", resume=True, quiet=True)
    for a, b in zip(whole.actors + whole.critics, resumed.actors + resumed.critics, strict=True):
        for x, y in zip(a.parameters(), b.parameters(), strict=True):
            assert torch.equal(x, y)
    assert (tmp_path / "split" / "checkpoint.pt").is_file()


def _updated_learner(batch, updates: int, **overrides) -> MADDPG:
    """A seeded two-agent MADDPG after ``updates`` updates on ``batch``."""
    torch.manual_seed(0)
    learner = MADDPG([4, 6], [5, 5], maddpg_variant("maddpg", hidden=16, **overrides))
    for _ in range(updates):
        learner.update(batch)
    return learner


def test_m3ddpg_changes_the_update_of_the_same_learner():
    rng = np.random.default_rng(0)
    batch = _filled_buffer([4, 6], [5, 5], rng).sample(32, rng)
    critics = []
    for epsilon in (0.0, 0.05):
        learner = _updated_learner(batch, 1, m3ddpg_epsilon=epsilon)
        critics.append(torch.cat([p.flatten() for p in learner.critics[0].parameters()]))
    assert not torch.equal(*critics)


def test_action_penalty_pulls_the_actors_off_the_sigmoid_bounds():
    rng = np.random.default_rng(0)
    batch = _filled_buffer([4, 6], [5, 5], rng).sample(64, rng)
    logit_sizes = []
    for penalty in (0.0, 1.0):
        learner = _updated_learner(batch, 100, action_penalty=penalty)
        with torch.no_grad():
            logit_sizes.append(learner.actors[0].logits(batch.obs[0]).abs().mean().item())
    unpenalised, penalised = logit_sizes
    assert penalised < 0.5 * unpenalised, logit_sizes
