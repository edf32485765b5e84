"""Robustness measurement with the same PGD: empirical local Lipschitz constant and an evaluation attack."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ernie_traffic.core.adversarial import Model
from ernie_traffic.core.ball import Ball
from ernie_traffic.core.config import DivergenceName, Norm
from ernie_traffic.core.divergence import get_divergence, output_distance
from ernie_traffic.core.pgd import ascend

_TINY = 1e-12


@dataclass(frozen=True)
class LipschitzEstimate:
    """max ‖f(x)−f(x')‖₂ / ‖x−x'‖ over the ε-ball of each state: mean and max over the batch."""

    mean: float
    max: float
    per_sample: Tensor


def empirical_lipschitz(
    model: Model,
    obs: Tensor,
    epsilon: float = 0.05,
    norm: Norm = "l2",
    steps: int = 10,
    feature_scale: Tensor | None = None,
    perturb_mask: Tensor | None = None,
    *,
    step_size: float | None = None,
    init_scale: float = 0.1,
) -> LipschitzEstimate:
    """Local Lipschitz constant of ``model`` around each row of ``obs``, maximised by PGD (Yang et al. 2020).

    The input distance is measured in the ball's norm in feature-scaled units (‖δ/feature_scale‖), the
    output distance in ℓ2. A PGD estimate is a lower bound of the true local constant.
    """
    ball = Ball.around(obs, epsilon, norm, feature_scale, perturb_mask)
    with torch.no_grad():
        clean = model(obs)

    def ratio(u: Tensor) -> Tensor:
        moved = output_distance(model(obs + ball.to_input(u)), clean, ball.batch_dims)
        return moved / ball.size(u).clamp_min(_TINY)

    start = ball.random_start(obs, init_scale)
    result = ascend(ratio, ball, start, steps, step_size or 2.5 * epsilon / steps, keep_best=True)
    per_sample = result.best_score
    return LipschitzEstimate(float(per_sample.mean()), float(per_sample.max()), per_sample)


def observation_attack(
    model: Model,
    obs: Tensor,
    epsilon: float = 0.05,
    norm: Norm = "linf",
    steps: int = 10,
    feature_scale: Tensor | None = None,
    perturb_mask: Tensor | None = None,
    *,
    divergence: DivergenceName = "l2",
    step_size: float | None = None,
    init_scale: float = 0.1,
) -> Tensor:
    """Maximal-action-difference attack: the observation in the ε-ball that moves ``model``'s output most.

    Use ``divergence="kl"`` for a policy's logits and ``"l2"`` for Q-values or deterministic actions.
    Returns the perturbed observations (detached, same shape as ``obs``); the best iterate is kept.
    """
    ball = Ball.around(obs, epsilon, norm, feature_scale, perturb_mask)
    measure = get_divergence(divergence)
    with torch.no_grad():
        clean = model(obs)

    def damage(u: Tensor) -> Tensor:
        return measure(model(obs + ball.to_input(u)), clean, ball.batch_dims)

    start = ball.random_start(obs, init_scale)
    result = ascend(damage, ball, start, steps, step_size or 2.5 * epsilon / steps, keep_best=True)
    return (obs + ball.to_input(result.best_u)).detach()
