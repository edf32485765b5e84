"""Mean-field ERNIE (section 4.4): attack a distribution-valued input d (state distribution d_s or mean
action ā) within a Wasserstein budget: max_{W(d', d) ≤ ε} Σ_a ‖Q(s, d', a) − Q(s, d, a)‖² − γ·cost².

The adversary moves mass with a transport plan Π = diag(d)·softmax(Z) (row i: where bin i's mass
goes), so d' = Πᵀ1 is always a distribution and W(d', d) ≤ ⟨Π, C⟩ for the ground metric C. The plan
logits Z are optimised by normalised gradient ascent on the penalised objective (Lagrangian form,
γ = ``transport_penalty``; the penalty is on the squared cost because the damage is quadratic in the
moved mass near d, so a linear penalty would always win there and the ascent would never leave d);
after every step the move is shortened along the segment towards d so
that ⟨Π, C⟩ ≤ ε (C has a zero diagonal, so the cost is linear along it). With the ``discrete`` metric
(C = 1 − I) the budget is the probability mass moved between bins.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ernie_traffic.core.ball import TINY
from ernie_traffic.core.config import GroundMetric, RegularizerConfig
from ernie_traffic.core.divergence import get_divergence
from ernie_traffic.errors import UserInputError

MeanFieldQ = Callable[[Tensor, Tensor], Tensor]  # (state [B, ...], distribution [B, M]) -> Q [B, A]


@dataclass(frozen=True)
class MeanFieldAttack:
    """The attacked distributions (detached) and the transport cost ⟨Π, C⟩ ≥ W(d', d) of each."""

    distribution: Tensor  # [B, M]
    transport_cost: Tensor  # [B]
    score: Tensor  # [B], the divergence of Q at the attacked distribution


def ground_cost_matrix(bins: int, metric: GroundMetric, dtype: torch.dtype = torch.float32) -> Tensor:
    """C[i, j], the cost of moving unit mass from bin i to bin j."""
    index = torch.arange(bins, dtype=dtype)
    if metric == "discrete":
        return 1.0 - torch.eye(bins, dtype=dtype)
    return (index[:, None] - index[None, :]).abs() / max(bins - 1, 1)


def transport(distribution: Tensor, logits: Tensor, cost: Tensor, budget: float) -> tuple[Tensor, Tensor]:
    """(d', ⟨Π, C⟩) for the plan softmax(logits), shortened so that its cost is at most ``budget``."""
    plan = torch.softmax(logits, dim=-1)
    target = torch.einsum("bi,bij->bj", distribution, plan)
    full_cost = torch.einsum("bi,bij,ij->b", distribution, plan, cost)
    fraction = (budget / full_cost.clamp_min(TINY)).clamp(max=1.0)
    moved = distribution + fraction[:, None] * (target - distribution)
    return moved, fraction * full_cost


def wasserstein_attack(
    q_fn: MeanFieldQ,
    state: Tensor,
    distribution: Tensor,
    cfg: RegularizerConfig,
    ground_cost: Tensor | None = None,
) -> MeanFieldAttack:
    """The worst distribution within the budget ``cfg.epsilon`` (and penalty ``cfg.transport_penalty``)."""
    bins = _check_distribution(distribution)
    cost = _resolve_cost(ground_cost, bins, cfg, distribution)
    divergence = get_divergence(cfg.divergence, cfg.p)
    with torch.no_grad():
        clean = q_fn(state, distribution)
    distribution = distribution.detach()

    def objective(logits: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        moved, spent = transport(distribution, logits, cost, cfg.epsilon)
        score = divergence(q_fn(state, moved), clean, 1)
        return score - cfg.transport_penalty * spent.square(), moved, spent

    batch = distribution.shape[0]
    noise = torch.randn(batch, bins, bins, dtype=distribution.dtype, device=distribution.device)
    if cfg.mode == "gaussian":
        logits = noise
    else:
        stay = _stay_logit(bins, cfg.init_scale * cfg.epsilon)
        logits = stay * torch.eye(bins, dtype=distribution.dtype, device=distribution.device) + 0.01 * noise
        # Leaving the start means lifting a target's logit by about ``stay`` (7 for 25 bins): a
        # fixed unit step could not do it in a few steps, and K = 2 spent a quarter of the budget
        # and did less damage than a random plan. So K steps span it, as PGD's span ε.
        step_size = cfg.resolved_step_size(span=stay)
        with torch.enable_grad():
            for _ in range(cfg.steps):
                logits = logits.detach().requires_grad_(True)
                (grad,) = torch.autograd.grad(objective(logits)[0].sum(), logits)
                norm = grad.flatten(1).norm(dim=-1).clamp_min(TINY)[:, None, None]
                logits = logits + step_size * grad / norm
    with torch.no_grad():
        _, moved, spent = objective(logits.detach())
        score = divergence(q_fn(state, moved), clean, 1)
    return MeanFieldAttack(moved, spent, score)


class MeanFieldRegularizer:
    """λ · mean Σ_a ‖Q(s, d', a) − Q(s, d, a)‖² with d' from :func:`wasserstein_attack` (d' detached).

    Example::

        mreg = MeanFieldRegularizer(RegularizerConfig(kind="mean_field", epsilon=0.1, steps=5))
        loss = td_loss + mreg(q_net, agent_state, state_histogram)
    """

    def __init__(self, cfg: RegularizerConfig | None = None) -> None:
        self.cfg = cfg or RegularizerConfig(kind="mean_field")
        self.last_value: float = 0.0
        self.last_attack: MeanFieldAttack | None = None

    def __call__(
        self, q_fn: MeanFieldQ, state: Tensor, distribution: Tensor, ground_cost: Tensor | None = None
    ) -> Tensor:
        """The weighted regularizer loss; ``distribution`` [B, M] rows are probability vectors."""
        self.last_attack = wasserstein_attack(q_fn, state, distribution, self.cfg, ground_cost)
        divergence = get_divergence(self.cfg.divergence, self.cfg.p)
        value = divergence(q_fn(state, self.last_attack.distribution), q_fn(state, distribution), 1).mean()
        self.last_value = float(value.detach())
        return self.cfg.weight * value


def _stay_logit(bins: int, moved_fraction: float) -> float:
    """The diagonal logit (others 0) of a plan that keeps 1 − ``moved_fraction`` of every bin in place,
    the small start of the ascent: starting from a plan that already spends the budget would leave
    the penalty no gradient."""
    return math.log((bins - 1) * (1 - moved_fraction) / moved_fraction)


def _check_distribution(distribution: Tensor) -> int:
    if distribution.dim() != 2:
        raise UserInputError(f"distribution of shape {tuple(distribution.shape)}: expected [B, bins]")
    sums = distribution.sum(-1)
    if (distribution < 0).any() or not torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
        raise UserInputError("distribution: rows must be non-negative and sum to 1")
    return distribution.shape[1]


def _resolve_cost(ground_cost: Tensor | None, bins: int, cfg: RegularizerConfig, like: Tensor) -> Tensor:
    if ground_cost is None:
        return ground_cost_matrix(bins, cfg.ground_metric, like.dtype).to(like.device)
    cost = torch.as_tensor(ground_cost, dtype=like.dtype, device=like.device)
    if cost.shape != (bins, bins) or (cost < 0).any() or cost.diagonal().abs().max() > 0:
        raise UserInputError(
            f"ground_cost: expected a non-negative [{bins}, {bins}] matrix with a zero diagonal, "
            f"got shape {tuple(cost.shape)}"
        )
    return cost
