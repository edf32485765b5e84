"""Evaluate particle / mean-field / drone policies: return under observation noise, and under attack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ernie_traffic.algorithms import ContinuousLearner
from ernie_traffic.core import observation_attack
from ernie_traffic.lab.config import changed_env
from ernie_traffic.lab.envs import LabEnvConfig, agent_dims, make_lab_env
from ernie_traffic.lab.train import load_learner
from ernie_traffic.runs import RunDirectory

ENV_SEED_OFFSET = 1_000_003  # evaluation episodes never reuse a training episode's seed


def episode_returns(
    learner: ContinuousLearner,
    env_config: LabEnvConfig,
    episodes: int,
    seed: int,
    attack_epsilon: float = 0.0,
) -> np.ndarray:
    """Mean per-agent return of each of ``episodes`` deterministic episodes, ``[episodes]``.

    ``env_config.observation_noise`` perturbs observations at random; ``attack_epsilon > 0``
    additionally replaces each observation by the core's PGD attack on that agent's actor
    (maximal action difference within an ℓ2 ball of that radius).
    """
    env = make_lab_env(env_config, noise_seed=seed)
    rng = np.random.default_rng(seed)
    returns = np.zeros(episodes)
    for episode in range(episodes):
        observations, _ = env.reset(seed=ENV_SEED_OFFSET + seed * 10_000 + episode)
        agents = list(env.possible_agents)
        total = 0.0
        while env.agents:
            obs = [observations[a] for a in agents]
            if attack_epsilon > 0:
                obs = [
                    observation_attack(actor, torch.as_tensor(o)[None], epsilon=attack_epsilon, norm="l2")[
                        0
                    ].numpy()
                    for actor, o in zip(learner.actors, obs, strict=True)
                ]
            actions = learner.act(obs, explore=False, rng=rng)
            observations, rewards, _, _, _ = env.step(dict(zip(agents, actions, strict=True)))
            total += float(np.mean([rewards[a] for a in agents]))
        returns[episode] = total
    env.close()
    return returns


class RandomPolicy:
    """Uniformly random actions in [0, 1]: the floor every learner must beat."""

    def __init__(self, act_dims: list[int]):
        self.act_dims = act_dims
        self.actors: list = []  # nothing to attack

    def act(self, obs: list[np.ndarray], explore: bool, rng: np.random.Generator) -> list[np.ndarray]:
        return [rng.uniform(0, 1, size=d).astype(np.float32) for d in self.act_dims]


def random_policy_returns(env_config: LabEnvConfig, episodes: int, seed: int) -> np.ndarray:
    """:func:`episode_returns` of :class:`RandomPolicy` on the same episodes."""
    return episode_returns(RandomPolicy(agent_dims(env_config)[1]), env_config, episodes, seed)  # type: ignore[arg-type]


def noise_sweep(
    learner: ContinuousLearner, env_config: LabEnvConfig, levels: list[float], episodes: int, seed: int
) -> list[dict[str, float]]:
    """Mean and std of the return at each observation-noise level σ (the paper's figures 3 and 4)."""
    rows = []
    for level in levels:
        noisy = env_config.model_copy(update={"observation_noise": level})
        returns = episode_returns(learner, noisy, episodes, seed)
        rows.append(
            {"noise": level, "mean_return": float(returns.mean()), "std_return": float(returns.std())}
        )
    return rows


def evaluate_run(
    run_dir: str | Path,
    levels: list[float],
    episodes: int,
    seed: int,
    attack_epsilon: float = 0.0,
    env_updates: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A trained run's :func:`noise_sweep` (and, with ``attack_epsilon > 0``, its return under the core's
    PGD attack of that ℓ2 radius), in its env changed by ``env_updates``; saved as the run's
    ``evaluation.json`` and returned."""
    run_config, learner = load_learner(run_dir)
    env = changed_env(run_config.env, env_updates or {}, "--env")
    result: dict[str, Any] = {"run": str(run_dir), "episodes": episodes, "seed": seed}
    result["noise_sweep"] = noise_sweep(learner, env, levels, episodes, seed)
    if env_updates:
        result["env"] = env.model_dump(mode="json")
    if attack_epsilon > 0:
        attacked = episode_returns(learner, env, episodes, seed, attack_epsilon=attack_epsilon)
        mean, std = float(attacked.mean()), float(attacked.std())
        result["attack"] = {"epsilon": attack_epsilon, "mean_return": mean, "std_return": std}
    RunDirectory(run_dir).save_evaluation(result)
    return result
