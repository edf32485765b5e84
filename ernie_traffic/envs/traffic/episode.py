"""What an episode's hooks see of the environment: reward functions and perturbations get an
:class:`Episode`, as sumo-rl's reward functions get a ``TrafficSignal``, never the environment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ernie_traffic.envs.traffic.detectors import DetectorBank
from ernie_traffic.envs.traffic.intersections import Intersection


@dataclass(frozen=True)
class Episode:
    """The running SUMO and the controlled intersections of one episode, from reset to its end."""

    api: Any  # the libsumo module or a TraCI connection (same domains)
    intersections: dict[str, Intersection]  # one per agent, in agent order
    detectors: DetectorBank  # the true readings (before sensor perturbations) of the last decision
    n_decisions: int
