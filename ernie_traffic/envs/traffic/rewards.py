"""Reward functions by name (as in sumo-rl): each returns one reward per agent, in agent order,
computed after every decision interval from the detector readings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from ernie_traffic.envs.traffic.env import TrafficSignalEnv


class Reward(Protocol):
    def reset(self, env: TrafficSignalEnv) -> None: ...
    def __call__(self, env: TrafficSignalEnv) -> np.ndarray: ...


class QueueReward:
    """Minus the halting vehicles on the intersection's incoming detectors."""

    def reset(self, env: TrafficSignalEnv) -> None:
        pass

    def __call__(self, env: TrafficSignalEnv) -> np.ndarray:
        return -env.detectors.per_agent_incoming_sum(env.detectors.queues_in)


class PressureReward:
    """Minus (vehicles on incoming detectors − vehicles on outgoing detectors)."""

    def reset(self, env: TrafficSignalEnv) -> None:
        pass

    def __call__(self, env: TrafficSignalEnv) -> np.ndarray:
        bank = env.detectors
        return bank.per_agent_outgoing_sum(bank.counts_out) - bank.per_agent_incoming_sum(bank.counts_in)


class DiffWaitingTimeReward:
    """Decrease of the summed waiting time (s) of vehicles on incoming lanes since the last decision,
    divided by 100 (sumo-rl's default reward). Reads SUMO lanes directly, not the detectors."""

    def reset(self, env: TrafficSignalEnv) -> None:
        self._last = self._waiting(env)

    def _waiting(self, env: TrafficSignalEnv) -> np.ndarray:
        lane = env.simulation.api.lane
        return np.array(
            [
                sum(lane.getWaitingTime(x) for x in env.intersections[a].incoming_lanes)
                for a in env.possible_agents
            ]
        )

    def __call__(self, env: TrafficSignalEnv) -> np.ndarray:
        now = self._waiting(env)
        reward, self._last = (self._last - now) / 100.0, now
        return reward


REWARDS: dict[str, type[Reward]] = {
    "queue": QueueReward,
    "pressure": PressureReward,
    "diff-waiting-time": DiffWaitingTimeReward,
}
