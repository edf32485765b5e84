"""The SUMO multi-agent traffic-signal environment (PettingZoo Parallel API), its metrics and
perturbations. See ``docs/environment.md``."""

from ernie_traffic.envs.traffic.config import PerturbationConfig, TrafficEnvConfig
from ernie_traffic.envs.traffic.env import TrafficSignalEnv
from ernie_traffic.envs.traffic.intersections import Intersection, read_intersections
from ernie_traffic.envs.traffic.metrics import METRIC_NAMES
from ernie_traffic.envs.traffic.perturbations import PERTURBATIONS
from ernie_traffic.envs.traffic.rewards import REWARDS

__all__ = [
    "METRIC_NAMES",
    "PERTURBATIONS",
    "REWARDS",
    "Intersection",
    "PerturbationConfig",
    "TrafficEnvConfig",
    "TrafficSignalEnv",
    "read_intersections",
]
