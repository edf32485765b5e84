"""Reward functions by name (as in sumo-rl): each gets the :class:`Episode` after every decision
interval, never the environment, and returns one reward per agent, in agent order."""

from __future__ import annotations

import numpy as np

from ernie_traffic.envs.traffic.episode import Episode


class Reward:
    def reset(self, episode: Episode) -> None:
        """Called once the episode's simulation has started."""

    def __call__(self, episode: Episode) -> np.ndarray:
        raise NotImplementedError


class QueueReward(Reward):
    """Minus the halting vehicles on the intersection's incoming detectors."""

    def __call__(self, episode: Episode) -> np.ndarray:
        return -episode.detectors.per_agent_incoming_sum(episode.detectors.queues_in)


class PressureReward(Reward):
    """Minus (vehicles on incoming detectors − vehicles on outgoing detectors)."""

    def __call__(self, episode: Episode) -> np.ndarray:
        bank = episode.detectors
        return bank.per_agent_outgoing_sum(bank.counts_out) - bank.per_agent_incoming_sum(bank.counts_in)


class DiffWaitingTimeReward(Reward):
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
