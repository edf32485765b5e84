"""The one typed config of every regularizer (observation, joint action, continuous action, mean field)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

RegularizerKind = Literal["observation", "action", "continuous_action", "mean_field"]
Norm = Literal["l2", "linf"]
DivergenceName = Literal["kl", "symmetric_kl", "l2", "lp"]
Mode = Literal["plain", "stackelberg", "stackelberg-fd", "gaussian"]
GroundMetric = Literal["discrete", "linear"]


class RegularizerConfig(BaseModel):
    """Settings of an ERNIE regularizer; every field has a usable default.

    Example::

        cfg = RegularizerConfig(epsilon=0.05, steps=3, norm="l2", divergence="l2", mode="stackelberg")
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: RegularizerKind = Field(
        "observation",
        description="What is perturbed: observations, discrete joint actions (ERNIE-A), continuous "
        "actions, or a mean-field distribution.",
    )
    epsilon: float = Field(
        0.05,
        gt=0,
        description="Radius of the perturbation ball (in units of feature_scale when one is given); for "
        "mean_field the Wasserstein budget.",
    )
    steps: int = Field(3, ge=1, description="K: number of projected gradient-ascent steps of the attack.")
    step_size: float | None = Field(
        None,
        gt=0,
        description="Ascent step length; None means 2.5·ε/K (for mean_field: 2.5·L/K in plan-logit space, L "
        "the logit distance from the ascent's start to moving the mass).",
    )
    norm: Norm = Field("l2", description="Ball norm: l2 (normalised gradient steps) or linf (signed steps).")
    divergence: DivergenceName = Field(
        "l2",
        description="D between perturbed and clean outputs: kl / symmetric_kl take logits; l2 is the "
        "squared Euclidean distance; lp is Σ|Δ|^p.",
    )
    p: float = Field(2.0, ge=1, description="Exponent of the lp divergence.")
    mode: Mode = Field(
        "plain",
        description="plain: δ_K detached (leader term only); stackelberg: autograd through the K unrolled "
        "steps; stackelberg-fd: the same gradient with finite-difference Hessian-vector products; "
        "gaussian: δ drawn from a Gaussian of the same scale (Baseline-Gaussian).",
    )
    weight: float = Field(0.5, ge=0, description="λ: the returned loss is λ · mean R.")
    init_scale: float = Field(
        0.1, gt=0, le=1, description="Radius of the random start of the ascent, as a fraction of ε."
    )
    fd_step: float = Field(
        1e-2,
        gt=0,
        description="stackelberg-fd: finite-difference radius, as a fraction of ε, of each probe.",
    )
    agents_changed: int = Field(
        1, ge=1, description="action: K, the largest number of agents whose action the adversary changes."
    )
    transport_penalty: float = Field(
        0.0,
        ge=0,
        description="mean_field: Lagrange multiplier γ on the squared transport cost (penalty form); 0 "
        "means the hard budget ε alone.",
    )
    ground_metric: GroundMetric = Field(
        "discrete",
        description="mean_field transport cost between bins: discrete (moving mass costs 1, so ε bounds the "
        "mass moved) or linear (|i−j|/(M−1), bins equally spaced on [0, 1]).",
    )

    @model_validator(mode="after")
    def _stackelberg_needs_smooth_steps(self) -> RegularizerConfig:
        if self.mode in ("stackelberg", "stackelberg-fd") and self.norm == "linf":
            raise ValueError(
                f"mode={self.mode} needs norm=l2: signed linf steps have zero derivative in the parameters, "
                "so the Stackelberg gradient would equal the plain one"
            )
        if self.mode in ("stackelberg", "stackelberg-fd") and self.kind in ("action", "mean_field"):
            raise ValueError(
                f"mode={self.mode} is not available for kind={self.kind} (use plain or gaussian)"
            )
        return self

    def resolved_step_size(self, span: float | None = None) -> float:
        """The ascent step length actually used: ``step_size``, else 2.5·span/K, so that K steps can
        cross the attack's span (the PGD convention). The span is ε, except for mean_field, whose
        attack passes its own: the plan-logit distance from its start to moving the mass."""
        if self.step_size is not None:
            return self.step_size
        return 2.5 * (self.epsilon if span is None else span) / self.steps
