"""The leader–follower term of the Stackelberg gradient by finite differences (O(d) memory).

The follower's response is δ_K = U∘…∘U(δ_0) with U(u, θ) = P(u + α·ĝ(u, θ)), ĝ = g/‖g‖,
g = ∇_u S(u, θ). Reverse-mode through the unroll needs, per step, the products of the mixed and
the input Hessians of S with one vector y. Both come from one central difference of S along y:
∇_θ,u [S(u + r·y) − S(u − r·y)] / 2r, i.e. two extra forward passes and one backward pass per step,
instead of keeping K graphs alive as the exact (``create_graph``) unroll does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ernie_traffic.core.ball import TINY, Ball
from ernie_traffic.core.pgd import Ascent, Score


def leader_follower_gradient(
    score: Score,
    ball: Ball,
    ascent: Ascent,
    grad_at_last: Tensor,
    params: Sequence[Tensor],
    step_size: float,
    fd_step: float,
) -> list[Tensor]:
    """(∂δ_K/∂θ)ᵀ · ``grad_at_last``, one tensor per parameter.

    ``grad_at_last`` is ∂R/∂u_K of the regularizer value R; ``ascent`` must come from :func:`ascend` on
    the same ``score`` (ℓ2 ball) so its stored iterates are the unroll being differentiated.
    """
    total = [torch.zeros_like(p) for p in params]
    v = grad_at_last
    for point, grad, moved in zip(
        reversed(ascent.points), reversed(ascent.gradients), reversed(ascent.pre_projection), strict=True
    ):
        through_projection = ball.project_vjp(moved, v)
        y = step_size * ball.direction_vjp(grad, through_projection)
        input_hvp, param_hvps = _central_difference_hvp(score, ball, point, y, params, fd_step)
        v = through_projection + input_hvp
        for acc, hvp in zip(total, param_hvps, strict=True):
            acc.add_(hvp)
    return total


def _central_difference_hvp(
    score: Score, ball: Ball, point: Tensor, y: Tensor, params: Sequence[Tensor], fd_step: float
) -> tuple[Tensor, list[Tensor]]:
    """(∇²_uu S · y, ∇²_θu S · y) at ``point``, each ball probed with its own radius r = fd_step·ε/‖y‖."""
    radius = fd_step * ball.epsilon / ball.l2(y).clamp_min(TINY)
    with torch.enable_grad():
        plus = (point + radius * y).requires_grad_(True)
        minus = (point - radius * y).requires_grad_(True)
        per_ball_radius = radius.flatten(ball.batch_dims)[..., 0]
        difference = ((score(plus) - score(minus)) / (2 * per_ball_radius)).sum()
        grads = torch.autograd.grad(difference, [*params, plus, minus], retain_graph=True, allow_unused=True)
    *param_grads, grad_plus, grad_minus = grads
    param_hvps = [torch.zeros_like(p) if g is None else g for p, g in zip(params, param_grads, strict=True)]
    return (grad_plus + grad_minus) * ball.mask, param_hvps
