"""The learner toolkit: discrete traffic-signal learners (QCOMBO, COMA) and the lab's continuous
learners (MADDPG, mean-field MADDPG), one module each, sharing base.py, replay.py and registry.py."""

from ernie_traffic.algorithms.base import ContinuousLearner, ContinuousTransition, DiscreteLearner, Transition
from ernie_traffic.algorithms.registry import build_continuous_learner, build_discrete_learner, get_algorithm

__all__ = ["ContinuousLearner", "ContinuousTransition", "DiscreteLearner", "Transition"]
__all__ += ["build_continuous_learner", "build_discrete_learner", "get_algorithm"]
