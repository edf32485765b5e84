"""Divergences D(perturbed output, clean output), one value per ball (per leading batch index)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn import functional as F

from ernie_traffic.core.config import DivergenceName

Divergence = Callable[[Tensor, Tensor, int], Tensor]
DivergenceWithGradient = Callable[[Tensor, Tensor, int], tuple[Tensor, Tensor]]


def sum_trailing(values: Tensor, batch_dims: int) -> Tensor:
    """Sum over every dimension after the first ``batch_dims`` ones."""
    if values.dim() == batch_dims:
        return values
    return values.flatten(batch_dims).sum(-1)


def kl(perturbed_logits: Tensor, clean_logits: Tensor, batch_dims: int) -> Tensor:
    """KL(π(o) ‖ π(o+δ)) of the softmax policies given by the logits (last dimension = actions)."""
    log_clean = F.log_softmax(clean_logits, dim=-1)
    log_perturbed = F.log_softmax(perturbed_logits, dim=-1)
    per_row = (log_clean.exp() * (log_clean - log_perturbed)).sum(-1)
    return sum_trailing(per_row, batch_dims)


def symmetric_kl(perturbed_logits: Tensor, clean_logits: Tensor, batch_dims: int) -> Tensor:
    """KL(π(o) ‖ π(o+δ)) + KL(π(o+δ) ‖ π(o))."""
    return kl(perturbed_logits, clean_logits, batch_dims) + kl(clean_logits, perturbed_logits, batch_dims)


def squared_l2(perturbed: Tensor, clean: Tensor, batch_dims: int) -> Tensor:
    """‖f(o+δ) − f(o)‖²₂ (deterministic policies, Q-values)."""
    return sum_trailing((perturbed - clean).square(), batch_dims)


def lp_power(p: float) -> Divergence:
    """Σ|f(o+δ) − f(o)|^p; p = 2 is the squared ℓ2 divergence."""

    def divergence(perturbed: Tensor, clean: Tensor, batch_dims: int) -> Tensor:
        return sum_trailing((perturbed - clean).abs().pow(p), batch_dims)

    return divergence


def squared_l2_with_gradient(perturbed: Tensor, clean: Tensor, batch_dims: int) -> tuple[Tensor, Tensor]:
    """:func:`squared_l2` and its gradient in the perturbed output, 2(f(o+δ) − f(o))."""
    difference = perturbed - clean
    return sum_trailing(difference.square(), batch_dims), 2 * difference


def divergence_with_gradient(name: DivergenceName) -> DivergenceWithGradient | None:
    """Divergence ``name`` and its gradient in the perturbed output, where that is written out (the
    PGD's fast path, :func:`ernie_traffic.core.adversarial.divergence_score`); None for the others."""
    return squared_l2_with_gradient if name == "l2" else None


def get_divergence(name: DivergenceName, p: float = 2.0) -> Divergence:
    """The divergence called ``name`` (see :class:`RegularizerConfig.divergence`)."""
    if name == "lp":
        return lp_power(p)
    return {"kl": kl, "symmetric_kl": symmetric_kl, "l2": squared_l2}[name]


def output_distance(perturbed: Tensor, clean: Tensor, batch_dims: int) -> Tensor:
    """‖f(o+δ) − f(o)‖₂ per ball (the numerator of the empirical Lipschitz constant)."""
    return torch.sqrt(squared_l2(perturbed, clean, batch_dims).clamp_min(0.0))
