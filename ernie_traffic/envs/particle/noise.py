"""Observation noise: the perturbation the particle and mean-field robustness curves sweep."""

from __future__ import annotations

from typing import Any

import numpy as np
from pettingzoo import ParallelEnv
from pettingzoo.utils.wrappers import BaseParallelWrapper


class ObservationNoise(BaseParallelWrapper):
    """Adds N(0, sigma²) noise to every agent's observation; the simulation itself is unchanged.

    The noise has its own generator, seeded by ``seed`` and re-seeded by ``reset(seed=...)``, so a
    noisy evaluation is reproducible and independent of the policy's random numbers.

    >>> from ernie_traffic.envs.particle import ParticleEnvConfig, make_particle_env
    >>> env = ObservationNoise(make_particle_env(ParticleEnvConfig()), sigma=0.1, seed=0)
    >>> obs, infos = env.reset(seed=0)
    """

    def __init__(self, env: ParallelEnv, sigma: float, seed: int | None = None):
        super().__init__(env)
        if sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {sigma}")
        self.sigma = sigma
        self._rng = np.random.default_rng(seed)

    def _noisy(self, observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            agent: (obs + self._rng.normal(0.0, self.sigma, size=obs.shape)).astype(obs.dtype)
            for agent, obs in observations.items()
        }

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self._rng = np.random.default_rng([seed, 0x6E6F69])  # distinct stream from the env's own seed
        observations, infos = self.env.reset(seed=seed, options=options)
        return self._noisy(observations), infos

    def step(self, actions):
        observations, rewards, terminations, truncations, infos = self.env.step(actions)
        return self._noisy(observations), rewards, terminations, truncations, infos
