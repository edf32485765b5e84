"""Robustness measurement with the same PGD: empirical local Lipschitz constant and an evaluation attack."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ernie_traffic.core.adversarial import Model
from ernie_traffic.core.ball import TINY, Ball
from ernie_traffic.core.config import DivergenceName, Norm
from ernie_traffic.core.divergence import get_divergence, output_distance, squared_l2
from ernie_traffic.core.pgd import Score, ascend


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
    init_scale: float = 1.0,
    restarts: int = 2,
) -> LipschitzEstimate:
    """Local Lipschitz constant of ``model`` around each row of ``obs``, maximised by PGD (Yang et al. 2020).

    The ascent maximises the output change ‖f(x+δ)−f(x)‖² (the ratio itself is scale-invariant in δ,
    a poor objective for fixed-length steps) and the best ratio over all iterates is reported. The input
    distance is measured in the ball's norm in feature-scaled units (‖δ/feature_scale‖), the output
    distance in ℓ2. A PGD estimate is a lower bound of the true local constant. ``step_size`` None means
    ε for ℓ2 and 2.5ε/K for ℓ∞; ``restarts`` ascents run from antithetic random starts.
    """
    ball = Ball.around(obs, epsilon, norm, feature_scale, perturb_mask)
    with torch.no_grad():
        clean = model(obs)

    def damage(u: Tensor) -> Tensor:
        return squared_l2(model(obs + ball.to_input(u)), clean, ball.batch_dims)

    def ratio(u: Tensor) -> Tensor:
        moved = output_distance(model(obs + ball.to_input(u)), clean, ball.batch_dims)
        return moved / ball.size(u).clamp_min(TINY)

    _, per_sample = _best_of_restarts(
        damage, ball, obs, steps, step_size, init_scale, restarts, tracked=ratio
    )
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
    init_scale: float = 1.0,
    restarts: int = 2,
) -> Tensor:
    """Maximal-action-difference attack: the observation in the ε-ball that moves ``model``'s output most.

    ``step_size`` None means ε for ℓ2 and 2.5ε/K for ℓ∞. Use ``divergence="kl"`` for a policy's logits
    and ``"l2"`` for Q-values or deterministic actions.
    Returns the perturbed observations (detached, same shape as ``obs``): the best iterate of
    ``restarts`` ascents.
    """
    ball = Ball.around(obs, epsilon, norm, feature_scale, perturb_mask)
    measure = get_divergence(divergence)
    with torch.no_grad():
        clean = model(obs)

    def damage(u: Tensor) -> Tensor:
        return measure(model(obs + ball.to_input(u)), clean, ball.batch_dims)

    best_u, _ = _best_of_restarts(damage, ball, obs, steps, step_size, init_scale, restarts)
    return (obs + ball.to_input(best_u)).detach()


def _best_of_restarts(
    score: Score,
    ball: Ball,
    obs: Tensor,
    steps: int,
    step_size: float | None,
    init_scale: float,
    restarts: int,
    tracked: Score | None = None,
) -> tuple[Tensor, Tensor]:
    """Best iterate per sample over ``restarts`` ascents; starts come in antithetic pairs (u₀, −u₀),
    because an ascent usually keeps to the side of its start and the other side can be the maximum."""
    # ℓ2: steps of length ε turn the iterate along the sphere quickly (2.5ε/K crawls there).
    step_size = step_size or (ball.epsilon if ball.norm == "l2" else 2.5 * ball.epsilon / steps)
    best_u, best_score = None, None
    for restart in range(restarts):
        if restart % 2 == 0:
            start = ball.random_start(obs, init_scale)
        signed_start = start if restart % 2 == 0 else -start
        result = ascend(score, ball, signed_start, steps, step_size, keep_best=True, tracked=tracked)
        if best_score is None:
            best_u, best_score = result.best_u, result.best_score
            continue
        better = result.best_score > best_score
        best_score = torch.where(better, result.best_score, best_score)
        best_u = torch.where(
            better.reshape(*better.shape, *([1] * (obs.dim() - better.dim()))), result.best_u, best_u
        )
    return best_u, best_score
