"""Reward functions by name (as in sumo-rl): each returns one reward per agent, in agent order,
computed after every decision interval from the detector readings."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ernie_traffic.envs.traffic.episode import Episode


class Reward(Protocol):
    def reset(self, episode: Episode) -> None: ...
    def __call__(self, episode: Episode) -> np.ndarray: ...


class QueueReward:
    """Minus the halting vehicles on the intersection's incoming detectors."""

    def reset(self, episode: Episode) -> None:
        pass

    def __call__(self, episode: Episode) -> np.ndarray:
        return -episode.detectors.per_agent_incoming_sum(episode.detectors.queues_in)


class PressureReward:
    """Minus (vehicles on incoming detectors − vehicles on outgoing detectors)."""

    def reset(self, episode: Episode) -> None:
        pass

    def __call__(self, episode: Episode) -> np.ndarray:
        bank = episode.detectors
        return bank.per_agent_outgoing_sum(bank.counts_out) - bank.per_agent_incoming_sum(bank.counts_in)


class DiffWaitingTimeReward:
    """Decrease of the summed waiting time (s) of vehicles on incoming lanes since the last decision,
    divided by 100 (sumo-rl's default reward). Reads SUMO lanes directly, not the detectors."""

    def reset(self, episode: Episode) -> None:
        self._last = self._waiting(episode)

    def _waiting(self, episode: Episode) -> np.ndarray:
        lane = episode.api.lane
        incoming = [tls.incoming_lanes for tls in episode.intersections.values()]
        return np.array([sum(lane.getWaitingTime(x) for x in lanes) for lanes in incoming])

    def __call__(self, episode: Episode) -> np.ndarray:
        now = self._waiting(episode)
        reward, self._last = (self._last - now) / 100.0, now
        return reward


REWARDS: dict[str, type[Reward]] = {
    "queue": QueueReward,
    "pressure": PressureReward,
    "diff-waiting-time": DiffWaitingTimeReward,
}
