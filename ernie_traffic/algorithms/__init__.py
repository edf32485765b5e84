"""Multi-agent learners for traffic-signal control, one module each, registered by name."""

from ernie_traffic.algorithms.base import Learner, Transition
from ernie_traffic.algorithms.registry import ALGORITHMS, build_learner, get_algorithm

__all__ = ["ALGORITHMS", "Learner", "Transition", "build_learner", "get_algorithm"]
