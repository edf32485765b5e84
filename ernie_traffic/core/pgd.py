"""Projected gradient ascent inside a :class:`Ball` — the one PGD every regularizer and attack uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ernie_traffic.core.ball import Ball

Score = Callable[[Tensor], Tensor]  # u -> one value per ball, to be maximised
# u -> (score(u), ∇_u Σ score(u)) written out, without autograd's engine
ScoreGradient = Callable[[Tensor], tuple[Tensor, Tensor]]


@dataclass
class Ascent:
    """The result of :func:`ascend`.

    ``u`` is the last iterate u_K (a differentiable function of the parameters when the ascent ran with
    ``create_graph=True``). ``points``/``gradients``/``pre_projection`` hold, detached, u_k, ∇S(u_k) and
    u_k + α·dir(∇S(u_k)) for k < K: what the finite-difference Stackelberg sweep replays.
    ``best_u``/``best_score`` hold the best iterate per ball (when ``keep_best``).
    """

    u: Tensor
    points: list[Tensor] = field(default_factory=list)
    gradients: list[Tensor] = field(default_factory=list)
    pre_projection: list[Tensor] = field(default_factory=list)
    best_u: Tensor | None = None
    best_score: Tensor | None = None


def ascend(
    score: Score,
    ball: Ball,
    start: Tensor,
    steps: int,
    step_size: float,
    create_graph: bool = False,
    keep_best: bool = False,
    tracked: Score | None = None,
    gradient: ScoreGradient | None = None,
) -> Ascent:
    """K steps of u ← Proj(u + α·dir(∇_u Σ score(u))) from ``start``.

    dir is the normalised gradient for ℓ2 and its sign for ℓ∞. With ``create_graph`` the steps stay in
    the autograd graph (exact Stackelberg); otherwise each step is detached. ``keep_best`` records the
    iterate with the highest ``tracked`` value per ball (default: the score itself). ``gradient``, when
    given, computes the score and its gradient instead of autograd in the detached steps (the same
    values, fewer operations); the unrolled steps of ``create_graph`` always take autograd.
    """

    def autograd_gradient(u: Tensor) -> tuple[Tensor, Tensor]:
        if not (create_graph and u.requires_grad):
            u = u.detach().requires_grad_(True)
        values = score(u)
        (grad,) = torch.autograd.grad(values.sum(), u, create_graph=create_graph)
        return values, grad

    def written_out_gradient(u: Tensor) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            return gradient(u)

    value_and_gradient = autograd_gradient if gradient is None or create_graph else written_out_gradient
    u = ball.project(start)
    result = Ascent(u=u)
    with torch.enable_grad():
        for _ in range(steps):
            values, grad = value_and_gradient(u)
            if keep_best:
                _keep_best(
                    result, u.detach(), values.detach() if tracked is None else tracked(u.detach()), ball
                )
            moved = u + step_size * ball.ascent_direction(grad)
            result.points.append(u.detach())
            result.gradients.append(grad.detach())
            result.pre_projection.append(moved.detach())
            u = ball.project(moved)
        if keep_best:
            with torch.no_grad():
                _keep_best(result, u.detach(), (tracked or score)(u.detach()), ball)
    result.u = u if create_graph else u.detach()
    return result


def _keep_best(result: Ascent, u: Tensor, values: Tensor, ball: Ball) -> None:
    if result.best_score is None:
        result.best_u, result.best_score = u.clone(), values.clone()
        return
    better = values > result.best_score
    result.best_score = torch.where(better, values, result.best_score)
    mask = better.reshape(*better.shape, *([1] * (u.dim() - better.dim())))
    result.best_u = torch.where(mask, u, result.best_u)
