"""Robustness measurement with the same PGD: empirical local Lipschitz constant and an evaluation attack."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ernie_traffic.core.adversarial import Model, divergence_score
from ernie_traffic.core.ball import TINY, Ball
from ernie_traffic.core.config import DivergenceName, Norm
from ernie_traffic.core.divergence import output_distance
from ernie_traffic.core.pgd import Score, ascend

# (perturbed outputs, clean outputs, u, balls) -> one value per ball: what an ascent maximises or tracks
Objective = Callable[[Tensor, Tensor, Tensor, Ball], Tensor]


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

    def ratio(perturbed: Tensor, clean: Tensor, u: Tensor, balls: Ball) -> Tensor:
        return output_distance(perturbed, clean, balls.batch_dims) / balls.size(u).clamp_min(TINY)

    _, per_sample = _best_of_restarts(
        model, obs, ball, "l2", steps, step_size, init_scale, restarts, tracked=ratio
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
    best_u, _ = _best_of_restarts(model, obs, ball, divergence, steps, step_size, init_scale, restarts)
    return (obs + ball.to_input(best_u)).detach()


def _best_of_restarts(
    model: Model,
    obs: Tensor,
    ball: Ball,
    divergence: DivergenceName,
    steps: int,
    step_size: float | None,
    init_scale: float,
    restarts: int,
    tracked: Objective | None = None,
) -> tuple[Tensor, Tensor]:
    """Best iterate per sample over ``restarts`` ascents of the ``divergence`` of the model's outputs from
    its clean ones (the best by ``tracked`` when given); starts come in antithetic pairs
    (u₀, −u₀), because an ascent usually keeps to the side of its start and the other side can be the
    maximum. The restarts run as one ascent over the samples stacked ``restarts`` times (every ball is
    independent, so this is the same ascent in one batch: one forward and backward pass per step instead
    of one per restart); the starts are drawn in the same order as one restart after another would."""
    # ℓ2: steps of length ε turn the iterate along the sphere quickly (2.5ε/K crawls there).
    step_size = step_size or (ball.epsilon if ball.norm == "l2" else 2.5 * ball.epsilon / steps)
    starts: list[Tensor] = []
    for restart in range(restarts):
        if restart % 2 == 0:
            starts.append(ball.random_start(obs, init_scale))
        else:
            starts.append(-starts[-1])
    balls = ball.repeated(restarts)
    repeats = (restarts, *([1] * (obs.dim() - 1)))
    stacked_obs = obs.repeat(repeats)
    with torch.no_grad():
        clean = model(obs)
    stacked_clean = clean.repeat(restarts, *([1] * (clean.dim() - 1)))

    def bind(measure: Objective) -> Score:
        return lambda u: measure(model(stacked_obs + balls.to_input(u)), stacked_clean, u, balls)

    score, gradient = divergence_score(model, stacked_obs, balls, divergence, stacked_clean)
    result = ascend(
        score,
        balls,
        torch.cat(starts),
        steps,
        step_size,
        keep_best=True,
        tracked=None if tracked is None else bind(tracked),
        gradient=gradient,
    )
    per_restart = result.best_score.reshape(restarts, obs.shape[0])
    winner = per_restart.argmax(0)  # the first restart among equals, as a strict "better" keeps it
    samples = torch.arange(obs.shape[0])
    best_u = result.best_u.reshape(restarts, *obs.shape)[winner, samples]
    return best_u, per_restart[winner, samples]
