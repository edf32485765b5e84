"""Evaluate particle / mean-field policies: return under observation noise, and under attack."""

from __future__ import annotations

import numpy as np
import torch

from ernie_traffic.core import observation_attack
from ernie_traffic.envs.particle import ParticleEnvConfig, make_particle_env
from ernie_traffic.lab.learners import Learner

ENV_SEED_OFFSET = 1_000_003  # evaluation episodes never reuse a training episode's seed


def episode_returns(
    learner: Learner,
    env_config: ParticleEnvConfig,
    episodes: int,
    seed: int,
    attack_epsilon: float = 0.0,
) -> np.ndarray:
    """Mean per-agent return of each of ``episodes`` deterministic episodes, ``[episodes]``.

    ``env_config.observation_noise`` perturbs observations at random; ``attack_epsilon > 0``
    additionally replaces each observation by the core's PGD attack on that agent's actor
    (maximal action difference within an ℓ2 ball of that radius).
    """
    env = make_particle_env(env_config, noise_seed=seed)
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


def random_policy_returns(env_config: ParticleEnvConfig, episodes: int, seed: int) -> np.ndarray:
    """The same measurement for uniformly random actions: the floor every learner must beat."""
    env = make_particle_env(env_config, noise_seed=seed)
    returns = np.zeros(episodes)
    for episode in range(episodes):
        env.reset(seed=ENV_SEED_OFFSET + seed * 10_000 + episode)
        agents = list(env.possible_agents)
        for a in agents:
            env.action_space(a).seed(seed * 10_000 + episode)
        total = 0.0
        while env.agents:
            _, rewards, _, _, _ = env.step({a: env.action_space(a).sample() for a in agents})
            total += float(np.mean([rewards[a] for a in agents]))
        returns[episode] = total
    env.close()
    return returns


def noise_sweep(
    learner: Learner, env_config: ParticleEnvConfig, levels: list[float], episodes: int, seed: int
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
