"""How well a policy hovers: every drone's distance to its hover point, decision by decision."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ernie_traffic.envs.drones.hover import DroneEnvConfig, make_drone_env

#: Joint policy: every drone's observation (``possible_agents`` order) -> every drone's action.
Policy = Callable[[list[np.ndarray]], list[np.ndarray]]


@dataclass
class Flight:
    """One episode: distances ``[decisions, n_drones]`` (metres, after each decision), the drones'
    mean return, and whether it ended in a crash."""

    distances: np.ndarray
    mean_return: float
    crashed: bool

    def holding_error(self) -> float:
        """The worst drone's mean distance over the episode's second half, once it had time to get there."""
        return float(self.distances[len(self.distances) // 2 :].mean(axis=0).max())


def fly(policy: Policy, config: DroneEnvConfig, episodes: int, seed: int) -> list[Flight]:
    """Fly ``policy`` for ``episodes`` episodes (reset seeds ``seed``, ``seed + 1``, ...) in ``config``."""
    env = make_drone_env(config, noise_seed=seed)
    agents = env.possible_agents
    flights = []
    for episode in range(episodes):
        observations, _ = env.reset(seed=seed + episode)
        distances, total, crashed = [], 0.0, False
        while env.agents:
            actions = policy([observations[a] for a in agents])
            observations, rewards, terminations, _, _ = env.step(dict(zip(agents, actions, strict=True)))
            total += float(np.mean([rewards[a] for a in agents]))
            # the true positions: with observation noise on, the observed offsets are noisy
            distances.append(env.unwrapped.distances_to_hover_points())
            crashed |= any(terminations.values())
        flights.append(Flight(np.array(distances), total, crashed))
    env.close()
    return flights
