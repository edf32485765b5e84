"""Perturbations: named, seeded, composable changes to an episode, each with a severity scale.

A :class:`~ernie_traffic.envs.traffic.config.PerturbationConfig` names one of :data:`PERTURBATIONS`
and gives a ``level`` in [0, 1]; the class turns the level into its parameter (table in
``docs/environment.md``) unless ``params`` sets that parameter directly. Every perturbation draws
its randomness from its own generator seeded by (episode seed, position in the list), so the same
seed gives the same perturbed episode and adding one perturbation does not change another's draws.

Hooks (all optional) are called by the environment at fixed points of an episode, each given only
what it works on: ``sumo_args`` (command line), ``on_reset`` (simulation started: the
:class:`~ernie_traffic.envs.traffic.episode.Episode`), ``readings`` (detector readings, in list
order: what the observations and every detector-driven controller read) and ``actions``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ernie_traffic.envs.traffic.config import PerturbationConfig
from ernie_traffic.envs.traffic.episode import Episode
from ernie_traffic.errors import UserInputError

# An adversary gets (agent, last observations, the actions chosen this step) and returns an action.
Adversary = Callable[[str, dict[str, np.ndarray], dict[str, int]], int]


class Perturbation:
    """Base class: a severity-scaled parameter and no-op hooks."""

    name: ClassVar[str]
    parameter: ClassVar[str]  # the parameter that ``level`` scales
    scale: ClassVar[str]  # how, for reports: e.g. "factor = 1 - 0.5 * level"
    # The parameter's value at a level: neutral + per_level * level (the formula ``scale`` states).
    neutral: ClassVar[float] = 0.0
    per_level: ClassVar[float]
    allowed_params: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: PerturbationConfig):
        unknown = set(config.params) - {self.parameter} - self.allowed_params
        if unknown:
            raise UserInputError(f"perturbation {config.name!r}: unknown params {sorted(unknown)}")
        self.config = config
        self.value = float(config.params.get(self.parameter, self.at_level(config.level)))
        self.rng = np.random.default_rng(0)

    @classmethod
    def at_level(cls, level: float) -> float:
        return cls.neutral + cls.per_level * level

    def seed(self, episode_seed: int, position: int) -> None:
        self.rng = np.random.default_rng([episode_seed, position])

    def sumo_args(self) -> list[str]:
        return []

    def on_reset(self, episode: Episode) -> None:
        pass

    def readings(self, decision: int, counts: np.ndarray, queues: np.ndarray) -> None:
        """Change the incoming readings of ``decision`` (0: reset) the observations are built from."""

    def actions(
        self,
        actions: dict[str, int],
        infos: dict[str, dict[str, Any]],
        observations: dict[str, np.ndarray],
        adversary: Adversary | None,
    ) -> None:
        """Change the actions chosen on ``observations`` (in place)."""


class SpeedFactor(Perturbation):
    """Every vehicle type's speed distribution (mean and deviation of the speed factor, a vehicle's
    share of the speed limit) and max speed are multiplied by ``factor`` when the simulation starts;
    the few vehicles SUMO built before that get their drawn speed factor multiplied instead."""

    name = "speed_factor"
    parameter = "factor"
    scale = "factor = 1 - 0.5 * level"
    neutral = 1.0
    per_level = -0.5

    def on_reset(self, episode: Episode) -> None:
        vtype, vehicle = episode.api.vehicletype, episode.api.vehicle
        for type_id in vtype.getIDList():
            vtype.setSpeedFactor(type_id, vtype.getSpeedFactor(type_id) * self.value)
            vtype.setSpeedDeviation(type_id, vtype.getSpeedDeviation(type_id) * self.value)
            vtype.setMaxSpeed(type_id, vtype.getMaxSpeed(type_id) * self.value)
        for vehicle_id in episode.api.simulation.getLoadedIDList():  # built during start, from the old types
            vehicle.setSpeedFactor(vehicle_id, vehicle.getSpeedFactor(vehicle_id) * self.value)


class DemandScale(Perturbation):
    """All demand multiplied by ``scale`` (SUMO ``--scale``: vehicles duplicated or dropped at random)."""

    name = "demand_scale"
    parameter = "scale"
    scale = "scale = 1 + level"
    neutral = 1.0
    per_level = 1.0

    def sumo_args(self) -> list[str]:
        return ["--scale", f"{self.value}"]


class LaneClosure(Perturbation):
    """A ``fraction`` of the controlled intersections' incoming lanes is closed from the start,
    never the last lane of a road. A lane whose turn no other lane of its road serves cannot be
    closed (SUMO cannot re-route vehicles around a turn removed at runtime): it becomes a work zone
    with speed limit ``work_zone_speed`` (m/s) instead. ``closed`` and ``work_zones`` list the lanes."""

    name = "lane_closure"
    parameter = "fraction"
    scale = "fraction = 0.5 * level of incoming lanes"
    allowed_params = frozenset({"work_zone_speed"})
    per_level = 0.5

    def on_reset(self, episode: Episode) -> None:
        turns: dict[str, set[str]] = {}  # incoming lane -> outgoing roads it serves
        for tls in episode.intersections.values():
            for incoming, outgoing in tls.links:
                if incoming:
                    turns.setdefault(incoming, set()).add(_road(outgoing))
        lanes_by_road: dict[str, list[str]] = {}
        for lane in turns:
            lanes_by_road.setdefault(_road(lane), []).append(lane)
        candidates = sorted(lane for lanes in lanes_by_road.values() if len(lanes) > 1 for lane in lanes)
        wanted = round(self.value * len(turns))
        open_lanes = {road: set(lanes) for road, lanes in lanes_by_road.items()}
        self.closed: list[str] = []
        self.work_zones: list[str] = []
        for lane in map(str, self.rng.permutation(candidates)[:wanted]):
            others = open_lanes[_road(lane)] - {lane}
            if others and turns[lane] <= set().union(*(turns[o] for o in others)):
                open_lanes[_road(lane)].discard(lane)
                self.closed.append(lane)
                episode.api.lane.setAllowed(lane, ["authority"])
            else:
                self.work_zones.append(lane)
                episode.api.lane.setMaxSpeed(lane, float(self.config.params.get("work_zone_speed", 3.0)))


def _road(lane: str) -> str:
    return lane.rsplit("_", 1)[0]


class ObservationNoise(Perturbation):
    """Gaussian sensor noise on every incoming detector: ``sigma`` times the detector's capacity
    vehicles of standard deviation (``sigma`` in the units of the observation's count/capacity
    features) added to its count and its queue reading, clipped at 0 as a reading cannot be
    negative. It acts on the readings, so every controller that reads the detectors sees it: learned
    controllers through their observations, max-pressure and actuated-detector directly."""

    name = "observation_noise"
    parameter = "sigma"
    scale = "sigma = 0.2 * level"
    per_level = 0.2

    def on_reset(self, episode: Episode) -> None:
        bank = episode.detectors
        self.lanes = [bank.incoming[agent] for agent in episode.intersections]
        # Per intersection, the standard deviation of its counts then its queues (its vector's order).
        self.deviations = [
            self.value * np.tile(np.asarray(bank.capacity[agent], dtype=np.float32), 2)
            for agent in episode.intersections
        ]

    def readings(self, decision: int, counts: np.ndarray, queues: np.ndarray) -> None:
        for lanes, deviation in zip(self.lanes, self.deviations, strict=True):
            noise = self.rng.normal(0.0, 1.0, deviation.shape).astype(np.float32) * deviation
            n = len(deviation) // 2
            np.maximum(counts[lanes] + noise[:n], 0.0, out=counts[lanes])
            np.maximum(queues[lanes] + noise[n:], 0.0, out=queues[lanes])


class DetectorFailure(Perturbation):
    """A ``fraction`` of incoming detectors (at least one) fails: ``mode="dropped"`` reads 0,
    ``mode="stuck"`` repeats the reading it had at a random decision in the first half of the
    episode. Every controller reading the detectors sees it (observations, max-pressure,
    actuated-detector); rewards and metrics use the true readings."""

    name = "detector_failure"
    parameter = "fraction"
    scale = "fraction = 0.25 * level of incoming detectors"
    per_level = 0.25
    allowed_params = frozenset({"mode"})

    def __init__(self, config: PerturbationConfig):
        super().__init__(config)
        self.mode = config.params.get("mode", "dropped")
        if self.mode not in ("dropped", "stuck"):
            raise UserInputError(f"detector_failure: mode {self.mode!r} is not 'dropped' or 'stuck'")

    def on_reset(self, episode: Episode) -> None:
        n = len(episode.detectors.incoming_ids)
        count = max(1, round(self.value * n)) if self.value > 0 else 0
        self.failed = np.sort(self.rng.choice(n, size=count, replace=False))
        self.fail_at = int(self.rng.integers(0, max(1, episode.n_decisions // 2)))
        self.stuck: tuple[np.ndarray, np.ndarray] | None = None

    def readings(self, decision: int, counts: np.ndarray, queues: np.ndarray) -> None:
        if self.mode == "dropped":
            counts[self.failed] = 0.0
            queues[self.failed] = 0.0
            return
        if decision < self.fail_at:
            return
        if self.stuck is None:
            self.stuck = (counts[self.failed].copy(), queues[self.failed].copy())
        counts[self.failed], queues[self.failed] = self.stuck


class MaliciousAgents(Perturbation):
    """In a ``fraction`` of decision steps one randomly chosen agent's action is replaced: by the
    adversary set with ``env.set_adversary(fn)`` if any, else by a uniformly random green phase.
    ``infos[agent]["action_replaced"]`` says which actions were replaced."""

    name = "malicious_agents"
    parameter = "fraction"
    scale = "fraction = 0.2 * level of decision steps"
    per_level = 0.2

    def on_reset(self, episode: Episode) -> None:
        self.n_actions = {agent: tls.n_actions for agent, tls in episode.intersections.items()}

    def actions(
        self,
        actions: dict[str, int],
        infos: dict[str, dict[str, Any]],
        observations: dict[str, np.ndarray],
        adversary: Adversary | None,
    ) -> None:
        if self.rng.random() >= self.value:
            return
        agent = list(self.n_actions)[int(self.rng.integers(len(self.n_actions)))]
        if adversary is not None:
            replacement = int(adversary(agent, observations, dict(actions)))
        else:
            replacement = int(self.rng.integers(self.n_actions[agent]))
        actions[agent] = replacement
        infos[agent]["action_replaced"] = True


PERTURBATIONS: dict[str, type[Perturbation]] = {
    cls.name: cls
    for cls in (SpeedFactor, DemandScale, LaneClosure, ObservationNoise, DetectorFailure, MaliciousAgents)
}


def build_perturbations(configs: list[PerturbationConfig]) -> list[Perturbation]:
    unknown = [c.name for c in configs if c.name not in PERTURBATIONS]
    if unknown:
        raise UserInputError(f"unknown perturbation(s) {unknown}; known: {', '.join(PERTURBATIONS)}")
    return [PERTURBATIONS[c.name](c) for c in configs]
