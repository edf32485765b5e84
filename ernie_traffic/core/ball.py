"""The perturbation set: an ℓ2 or ℓ∞ ball per sample, in feature-scaled units, with frozen features.

The attack works on a normalised perturbation ``u``; what is added to the input is
``δ = feature_scale · mask · u``. "Inside the ball" therefore means ``‖u‖ ≤ ε`` over the features that
may move, so ε is relative to each feature's scale and masked features never move.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ernie_traffic.core.config import Norm
from ernie_traffic.errors import UserInputError

# Floor under norms and denominators, shared by the whole core.
TINY = 1e-12


@dataclass(frozen=True)
class Ball:
    """An ε-ball per ball index (the first ``batch_dims`` dimensions of the input)."""

    epsilon: float
    norm: Norm
    batch_dims: int
    scale: Tensor  # broadcast to the input's shape
    mask: Tensor  # 1.0 where a feature may be perturbed, 0.0 where it is frozen

    @classmethod
    def around(
        cls,
        inputs: Tensor,
        epsilon: float,
        norm: Norm,
        feature_scale: Tensor | None = None,
        perturb_mask: Tensor | None = None,
        batch_dims: int = 1,
    ) -> Ball:
        """The ball around ``inputs``; ``feature_scale`` and ``perturb_mask`` broadcast to its shape."""
        if inputs.dim() <= batch_dims:
            raise UserInputError(
                f"inputs of shape {tuple(inputs.shape)}: need features after {batch_dims} batch dimension(s)"
            )
        ones = torch.ones_like(inputs)
        scale = ones if feature_scale is None else _broadcast("feature_scale", feature_scale, inputs)
        mask = ones if perturb_mask is None else _broadcast("perturb_mask", perturb_mask, inputs)
        return cls(epsilon, norm, batch_dims, scale, mask)

    def repeated(self, times: int) -> Ball:
        """The same balls ``times`` over, stacked along the first dimension (independent restarts of an
        ascent in one batch: ball ``r·B + b`` is ball ``b``)."""
        repeats = (times, *([1] * (self.scale.dim() - 1)))
        return Ball(
            self.epsilon, self.norm, self.batch_dims, self.scale.repeat(repeats), self.mask.repeat(repeats)
        )

    def to_input(self, u: Tensor) -> Tensor:
        """The perturbation δ added to the input."""
        return self.scale * self.mask * u

    def size(self, u: Tensor) -> Tensor:
        """‖u‖ in the ball's norm, one value per ball."""
        return self._norm(u, self.norm)

    def l2(self, u: Tensor) -> Tensor:
        """‖u‖₂ per ball, shaped to broadcast against ``u``."""
        return self._expand(self._norm(u, "l2"), u)

    def project(self, u: Tensor) -> Tensor:
        """Euclidean projection onto the ball (frozen features set to 0); differentiable."""
        u = u * self.mask
        if self.norm == "linf":
            return u.clamp(-self.epsilon, self.epsilon)
        factor = (self.epsilon / self.l2(u).clamp_min(TINY)).clamp(max=1.0)
        return u * factor

    def project_vjp(self, point: Tensor, v: Tensor) -> Tensor:
        """Jᵀv of the ℓ2 projection at ``point`` (the Jacobian is symmetric)."""
        radius = self.l2(point)
        outside = radius > self.epsilon
        unit = point / radius.clamp_min(TINY)
        tangent = v - unit * self._expand(self._sum(unit * v), v)
        shrunk = tangent * self.epsilon / radius.clamp_min(TINY)
        return torch.where(outside, shrunk, v) * self.mask

    def ascent_direction(self, grad: Tensor) -> Tensor:
        """Steepest-ascent direction of unit size in the ball's norm: ĝ (ℓ2) or sign(g) (ℓ∞)."""
        grad = grad * self.mask
        if self.norm == "linf":
            return grad.sign()
        return grad / self.l2(grad).clamp_min(TINY)

    def direction_vjp(self, grad: Tensor, v: Tensor) -> Tensor:
        """Jᵀv of g ↦ g/‖g‖₂ (symmetric): (v − ĝ(ĝ·v)) / ‖g‖."""
        grad = grad * self.mask
        norm = self.l2(grad).clamp_min(TINY)
        unit = grad / norm
        return (v - unit * self._expand(self._sum(unit * v), v)) / norm * self.mask

    def random_start(self, like: Tensor, fraction: float) -> Tensor:
        """A random point of norm ``fraction·ε`` (ℓ2: uniform direction; ℓ∞: uniform in the cube)."""
        if self.norm == "linf":
            u = (torch.rand_like(like) * 2 - 1) * self.mask
            return u * fraction * self.epsilon
        u = torch.randn_like(like) * self.mask
        return u * (fraction * self.epsilon / self.l2(u).clamp_min(TINY))

    def gaussian(self, like: Tensor) -> Tensor:
        """Baseline-Gaussian noise of the ball's scale: per-feature σ = ε (ℓ∞) or ε/√d (ℓ2, so E‖u‖² = ε²)."""
        if self.norm == "linf":
            return torch.randn_like(like) * self.mask * self.epsilon
        free = self._expand(self._sum(self.mask.expand_as(like)), like)
        return torch.randn_like(like) * self.mask * self.epsilon / free.clamp_min(1.0).sqrt()

    def sample_in_ball(self, like: Tensor, count: int, on_boundary: bool = False) -> Tensor:
        """``count`` random perturbations per ball, stacked in a new leading dimension (tests, evaluation)."""
        shape = (count, *like.shape)
        if self.norm == "linf":
            u = torch.rand(shape, dtype=like.dtype) * 2 - 1
            if on_boundary:
                u = u.sign()
            return u * self.mask * self.epsilon
        u = torch.randn(shape, dtype=like.dtype) * self.mask
        flat = u.flatten(self.batch_dims + 1)
        radius = flat.norm(dim=-1).clamp_min(TINY)
        if on_boundary:
            target = torch.full_like(radius, self.epsilon)
        else:
            free = self.mask.expand_as(like).flatten(self.batch_dims).sum(-1)
            target = self.epsilon * torch.rand_like(radius) ** (1.0 / free.clamp_min(1.0))
        factor = (target / radius).reshape(*radius.shape, *([1] * (u.dim() - radius.dim())))
        return u * factor

    def _sum(self, u: Tensor) -> Tensor:
        return u.flatten(self.batch_dims).sum(-1)

    def _norm(self, u: Tensor, norm: Norm) -> Tensor:
        flat = (u * self.mask).flatten(self.batch_dims)
        return flat.abs().amax(-1) if norm == "linf" else flat.norm(dim=-1)

    def _expand(self, per_ball: Tensor, like: Tensor) -> Tensor:
        return per_ball.reshape(*per_ball.shape, *([1] * (like.dim() - per_ball.dim())))


def _broadcast(name: str, value: Tensor, inputs: Tensor) -> Tensor:
    value = torch.as_tensor(value, device=inputs.device)
    try:
        return value.to(inputs.dtype).expand_as(inputs)
    except RuntimeError:
        raise UserInputError(
            f"{name} of shape {tuple(value.shape)} does not broadcast to inputs of shape "
            f"{tuple(inputs.shape)}"
        ) from None
