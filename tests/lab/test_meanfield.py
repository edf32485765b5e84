"""Mean-field MADDPG: the critic's size does not grow with N; d_s and ā are what they claim."""

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from ernie_traffic.algorithms import ContinuousTransition
from ernie_traffic.algorithms.meanfield import (
    MeanFieldConfig,
    MeanFieldMADDPG,
    PositionHistogram,
    meanfield_variant,
    others_mean,
)
from ernie_traffic.algorithms.replay import ReplayBuffer
from ernie_traffic.core import RegularizerConfig, wasserstein_attack
from ernie_traffic.envs.particle import ParticleEnvConfig, make_particle_env


def _parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_critic_and_actor_sizes_do_not_depend_on_n():
    counts = set()
    for n in (3, 6, 10, 20):
        env = make_particle_env(ParticleEnvConfig(n_agents=n, nearest_neighbors=True))
        agent = env.possible_agents[0]
        obs_dim, act_dim = env.observation_space(agent).shape[0], env.action_space(agent).shape[0]
        learner = MeanFieldMADDPG(obs_dim, act_dim, n, meanfield_variant("baseline"))
        counts.add((_parameters(learner.critic), _parameters(learner.actor)))
    assert len(counts) == 1


def test_histogram_is_the_others_distribution():
    histogram = PositionHistogram(bins=2, extent=1.0)
    # agents at (-0.5,-0.5), (0.5,0.5), (0.5,0.5) and one far outside (clamped to the corner bin)
    positions = torch.tensor([[[-0.5, -0.5], [0.5, 0.5], [0.5, 0.5], [9.0, 9.0]]])
    d_s = histogram(positions)
    assert d_s.shape == (1, 4, 4)
    assert torch.allclose(d_s.sum(-1), torch.ones(1, 4))
    assert torch.allclose(d_s[0, 0], torch.tensor([0.0, 0.0, 0.0, 1.0]))  # all three others in the top bin
    assert torch.allclose(d_s[0, 1], torch.tensor([1 / 3, 0.0, 0.0, 2 / 3]))
    assert histogram.ground_cost.shape == (4, 4)
    assert torch.isclose(histogram.ground_cost[0, 3], torch.tensor(2**0.5))


def test_mean_action_excludes_the_agent_itself():
    actions = torch.tensor([[[1.0], [2.0], [6.0]]])
    assert torch.allclose(others_mean(actions), torch.tensor([[[4.0], [3.5], [1.5]]]))


@pytest.mark.parametrize("name", ["baseline", "ernie"])
def test_update_runs_for_many_agents(name):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n = 10
    buffer = ReplayBuffer(ContinuousTransition, capacity=32)
    for _ in range(32):
        obs = [rng.uniform(-1, 1, 18).astype(np.float32) for _ in range(n)]
        actions = [rng.uniform(size=5).astype(np.float32)] * n
        buffer.add(ContinuousTransition(obs, actions, rng.normal(size=n), obs, 0.0))
    learner = MeanFieldMADDPG(18, 5, n, meanfield_variant(name, hidden=16))
    before = [p.clone() for p in learner.critic.parameters()]
    logs = learner.update(buffer.sample(16, rng))
    assert np.isfinite(list(logs.values())).all()
    assert any(not torch.equal(a, b) for a, b in zip(before, learner.critic.parameters(), strict=True))
    assert ("mean_field_regularizer" in logs) == (name == "ernie")


def _exact_w1(p: np.ndarray, q: np.ndarray, cost: np.ndarray) -> float:
    """Earth mover's distance by linear programming over transport plans."""
    m = len(p)
    p, q = p / p.sum(), q / q.sum()  # float32 masses: make the equality constraints consistent
    rows = np.kron(np.eye(m), np.ones(m))  # Σ_j π_ij = p_i
    cols = np.kron(np.ones(m), np.eye(m))  # Σ_i π_ij = q_j
    result = linprog(
        cost.ravel(), A_eq=np.vstack([rows, cols]), b_eq=np.concatenate([p, q]), bounds=(0, None)
    )
    assert result.success
    return float(result.fun)


def _critic_inputs(
    n: int, rows: int, config: MeanFieldConfig
) -> tuple[MeanFieldMADDPG, torch.Tensor, torch.Tensor]:
    """A fresh learner (seed 0) and its critic's inputs on ``rows`` joint observations of ``n``
    agents: each agent's view ``[o_j, a_j, ā_j]`` and the others' position histogram ``d_s``."""
    torch.manual_seed(0)
    env = make_particle_env(ParticleEnvConfig(n_agents=n, nearest_neighbors=True))
    observations, _ = env.reset(seed=0)
    obs = torch.as_tensor(np.stack([observations[a] for a in env.possible_agents]))[None].repeat(rows, 1, 1)
    obs[..., 2:4] += 0.5 * torch.randn(rows, n, 2)  # varied positions, so the histograms differ
    learner = MeanFieldMADDPG(18, 5, n, config)
    actions = torch.rand(rows, n, 5)
    view = torch.cat([obs, actions, others_mean(actions)], dim=-1).flatten(0, 1)
    return learner, view, learner.histogram(obs[..., 2:4]).flatten(0, 1)


@pytest.mark.parametrize("epsilon", [0.05, 0.3])
def test_mean_field_attack_stays_within_its_wasserstein_budget(epsilon):
    learner, view, d_s = _critic_inputs(6, 8, meanfield_variant("ernie", hidden=16))
    cfg = RegularizerConfig(kind="mean_field", epsilon=epsilon, steps=5)
    attack = wasserstein_attack(learner.q_of_distribution, view, d_s, cfg, learner.histogram.ground_cost)
    cost = learner.histogram.ground_cost.double().numpy()
    distances = [
        _exact_w1(d.double().numpy(), a.double().numpy(), cost)
        for d, a in zip(d_s, attack.distribution, strict=True)
    ]
    assert max(distances) <= epsilon + 1e-5
    assert (attack.transport_cost <= epsilon + 1e-5).all()
    assert torch.allclose(attack.distribution.sum(-1), torch.ones(len(d_s)))
    assert max(distances) > 0.5 * epsilon  # the attack does use its budget
    assert (attack.score > 0).all()


def test_the_presets_attack_uses_its_budget_and_beats_random_transport_plans():
    """Mean-field ERNIE's own attack (preset: Wasserstein budget 0.2, K = 2) on the N = 10 critic:
    it spends its budget and does more damage than random plans of the same budget (it once spent a
    quarter of it and did half a random plan's damage)."""
    preset = meanfield_variant("ernie")
    learner, view, d_s = _critic_inputs(10, 16, preset)
    cfg = preset.mean_field_regularizer
    assert cfg is not None and cfg.steps == 2
    cost = learner.histogram.ground_cost
    attack = wasserstein_attack(learner.q_of_distribution, view, d_s, cfg, cost)
    random_plan = cfg.model_copy(update={"mode": "gaussian"})
    randoms = [wasserstein_attack(learner.q_of_distribution, view, d_s, random_plan, cost) for _ in range(20)]
    assert float(attack.transport_cost.mean()) > 0.8 * cfg.epsilon
    assert all(float(r.transport_cost.mean()) > 0.99 * cfg.epsilon for r in randoms)  # same budget, all spent
    best_random = max(float(r.score.mean()) for r in randoms)
    assert float(attack.score.mean()) > 10 * best_random
