"""Which ERNIE regularizers a learner applies, built from the run's ``reg`` name and settings.

``none`` adds nothing; ``ernie`` regularizes each agent's Q-values / policy against adversarial
observation perturbations; ``gaussian`` is the same with random instead of adversarial
perturbations (the paper's Baseline-Gaussian); ``ernie-a`` regularizes the centralized
Q-function against the worst change of ``top_k`` agents' actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ernie_traffic.core import JointActionRegularizer, ObservationRegularizer, RegularizerConfig
from ernie_traffic.errors import UserInputError
from ernie_traffic.utils.config_files import validation_message

RegularizerName = Literal["none", "ernie", "ernie-a", "gaussian"]
# the regularizers that perturb observations inside a ball of radius ``epsilon``
OBSERVATION_BALL: tuple[RegularizerName, ...] = ("ernie", "gaussian")


class RegularizerSettings(BaseModel):
    """Strength and attack of the ERNIE regularizers (paper §4; λ, ε, K)."""

    model_config = ConfigDict(extra="forbid")

    # plain since 2026-11-30: chosen on validation levels and seeds (grid2x2-selection), as robust
    # as Stackelberg on the report levels (grid2x2-report) for 0.8-0.97x the training CPU
    mode: Literal["plain", "stackelberg", "stackelberg-fd"] = Field(
        "plain",
        description="ERNIE gradient: plain adversarial (δ_K detached), Stackelberg (through the unrolled "
        "steps) or its finite-difference form",
    )
    weight: float = Field(0.5, ge=0, description="λ, weight of the regularizer in the loss")
    epsilon: float = Field(
        0.05,
        gt=0,
        description="radius of the observation perturbation ball, at most (0.05: two thirds of a "
        "vehicle on one 100 m detector)",
    )
    # 0.165: grid4x4 then gets the radius chosen on its validation seeds (0.016; docs/benchmarks.md),
    # and grid2x2 and ingolstadt7 keep 0.05
    epsilon_readings: float | None = Field(
        0.165,
        gt=0,
        description="the radius is also at most this fraction of the mean ℓ2 norm of an "
        "intersection's detector readings under max-pressure control on the training network (one "
        "episode, measured before training): where detectors report little, the ball is smaller. "
        "None: the radius is epsilon on every network",
    )
    steps: int = Field(3, ge=1, description="K, gradient-ascent steps of the attack")
    norm: Literal["l2", "linf"] = Field("l2", description="norm of the perturbation ball")
    features: Literal["all", "sensors"] = Field(
        "all",
        description="observation features the perturbation moves: all, or only the detector readings "
        "(the signal's own phase and timer are known exactly, as in a cabinet)",
    )
    epsilon_ramp: int = Field(
        0,
        ge=0,
        description="ε grows linearly from 0 to epsilon over this many regularized updates, as SA-DQN "
        "ramps its ε (the attack then never meets an untrained network); 0: full ε from the start",
    )
    top_k: int = Field(1, ge=1, description="ERNIE-A: agents whose action the adversary changes")
    batch_size: int | None = Field(
        16,
        ge=1,
        description="transitions of each update the regularizer is estimated on (random subset; "
        "None: all). The regularizer is an expectation over observations, so a subset estimates it "
        "without bias at a fraction of the attack's cost",
    )

    def observation_epsilon(self, reading_norm: float) -> float:
        """The radius of the observation ball on a network whose readings have this mean norm."""
        if self.epsilon_readings is None:
            return self.epsilon
        return min(self.epsilon, self.epsilon_readings * reading_norm)


@dataclass
class Regularizers:
    """The regularizers of one learner; ``None`` where the run does not use one."""

    observation: ObservationRegularizer | None
    joint_action: JointActionRegularizer | None
    batch_size: int | None = None
    sensors_only: bool = False  # the observation perturbation moves only the sensor features
    epsilon_ramp: int = 0
    updates: int = 0  # regularized updates so far (a learner's checkpoint keeps it: the ramp resumes)

    def epsilon_scale(self) -> torch.Tensor | None:
        """This update's fraction of ε (None: the full ε); counts the update."""
        self.updates += 1
        if self.updates >= self.epsilon_ramp:
            return None
        return torch.tensor(self.updates / self.epsilon_ramp)

    def sample_index(self, total: int, generator: torch.Generator) -> torch.Tensor:
        """Indices of the transitions (out of ``total``) the regularizer is estimated on."""
        if self.batch_size is None or self.batch_size >= total:
            return torch.arange(total)
        return torch.randperm(total, generator=generator)[: self.batch_size]


def build_regularizers(
    name: RegularizerName, settings: RegularizerSettings, divergence: Literal["l2", "kl"]
) -> Regularizers:
    """``divergence`` is how agent outputs are compared: squared ℓ2 for Q-values, KL for policies."""
    if name == "none":
        return Regularizers(None, None)
    size = settings.batch_size
    try:
        if name == "ernie-a":
            action = RegularizerConfig(
                kind="action", mode="plain", agents_changed=settings.top_k, weight=settings.weight
            )
            return Regularizers(None, JointActionRegularizer(action), size)
        observation = RegularizerConfig(
            epsilon=settings.epsilon,
            steps=settings.steps,
            norm=settings.norm,
            divergence=divergence,
            mode="gaussian" if name == "gaussian" else settings.mode,
            weight=settings.weight,
        )
    except ValidationError as exc:
        raise UserInputError(validation_message(exc, "regularizer")) from exc
    return Regularizers(
        ObservationRegularizer(observation), None, size, settings.features == "sensors", settings.epsilon_ramp
    )
