"""The ERNIE regularizers and robustness measurement (torch only; knows nothing of traffic).

One PGD (:mod:`.pgd`) inside one perturbation set (:mod:`.ball`) serves the observation regularizer
(plain, Stackelberg exact / finite-difference, Gaussian baseline), the continuous-action regularizer,
the Lipschitz estimate and the evaluation attack. ERNIE-A (:mod:`.joint_action`) and the mean-field
regularizer (:mod:`.mean_field`) search their own discrete / transport-plan spaces.
"""

from __future__ import annotations

from ernie_traffic.core.ball import Ball
from ernie_traffic.core.config import RegularizerConfig
from ernie_traffic.core.joint_action import (
    JointActionRegularizer,
    JointActionSearch,
    greedy_joint_action_search,
    random_joint_actions,
)
from ernie_traffic.core.mean_field import MeanFieldAttack, MeanFieldRegularizer, wasserstein_attack
from ernie_traffic.core.measure import LipschitzEstimate, empirical_lipschitz, observation_attack
from ernie_traffic.core.observation import ContinuousActionRegularizer, ObservationRegularizer

Regularizer = (
    ObservationRegularizer | JointActionRegularizer | ContinuousActionRegularizer | MeanFieldRegularizer
)


def build_regularizer(cfg: RegularizerConfig) -> Regularizer:
    builders = {
        "observation": ObservationRegularizer,
        "action": JointActionRegularizer,
        "continuous_action": ContinuousActionRegularizer,
        "mean_field": MeanFieldRegularizer,
    }
    return builders[cfg.kind](cfg)


__all__ = [
    "Ball",
    "ContinuousActionRegularizer",
    "JointActionRegularizer",
    "JointActionSearch",
    "LipschitzEstimate",
    "MeanFieldAttack",
    "MeanFieldRegularizer",
    "ObservationRegularizer",
    "Regularizer",
    "RegularizerConfig",
    "build_regularizer",
    "empirical_lipschitz",
    "greedy_joint_action_search",
    "observation_attack",
    "random_joint_actions",
    "wasserstein_attack",
]
