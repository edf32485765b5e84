"""ERNIE-A (eq. 5): smoothness of a global Q(s, a) in the joint discrete action, Hamming budget K.

The inner max over joint actions within Hamming distance K is solved greedily: K rounds, each
evaluating every (agent, action) change of the agents not yet changed in one batched call of Q and
keeping the best — O(|A|·N·K) evaluations, never the |A|^N joint space. For K = 1 this is exact;
for K ≥ 2 it is a lower bound of the true max (a pair of individually small changes can beat the
greedy first pick).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from ernie_traffic.core.config import RegularizerConfig
from ernie_traffic.errors import UserInputError

QFunction = Callable[[Tensor, Tensor], Tensor]  # (state [B, ...], actions Long [B, N]) -> Q [B]
Objective = Literal["squared", "decrease"]


@dataclass(frozen=True)
class JointActionSearch:
    """The adversarial joint actions found by :func:`greedy_joint_action_search` (all detached).

    ``score`` is (Q(s,a) − Q(s,a'))² for the objective ``squared`` and Q(s,a) − Q(s,a') for
    ``decrease``; ``changed`` marks the agents whose action differs from the original one.
    """

    actions: Tensor  # Long [B, N]
    q_original: Tensor  # [B]
    q_perturbed: Tensor  # [B]
    score: Tensor  # [B]
    changed: Tensor  # bool [B, N]


def valid_action_mask(
    actions: Tensor, action_mask: Tensor | None = None, n_actions: int | None = None
) -> Tensor:
    """bool [B, N, A_max] of the actions each agent may take."""
    batch, agents = actions.shape
    if action_mask is None:
        if n_actions is None:
            raise UserInputError("joint-action search needs action_mask [N, A_max] or n_actions")
        return torch.ones(batch, agents, n_actions, dtype=torch.bool, device=actions.device)
    mask = action_mask.to(device=actions.device, dtype=torch.bool)
    if mask.dim() not in (2, 3) or mask.shape[-2] != agents:
        raise UserInputError(
            f"action_mask of shape {tuple(mask.shape)}: expected [N, A_max] or [B, N, A_max], N = {agents}"
        )
    return mask.expand(batch, agents, mask.shape[-1])


@torch.no_grad()
def greedy_joint_action_search(
    q_fn: QFunction,
    state: Tensor,
    actions: Tensor,
    max_changed: int = 1,
    action_mask: Tensor | None = None,
    *,
    n_actions: int | None = None,
    objective: Objective = "squared",
) -> JointActionSearch:
    """Greedy worst joint action within Hamming distance ``max_changed`` of ``actions``.

    ``objective="squared"`` maximises (Q(s,a) − Q(s,a'))² (the regularizer); ``"decrease"`` maximises
    Q(s,a) − Q(s,a'), i.e. picks the malicious actions that lower the global Q most (stress tests).
    The best joint action over rounds 1..K is returned, so its score never decreases with K; at least
    one agent is changed wherever some agent has another valid action.
    """
    if actions.dim() != 2:
        raise UserInputError(f"actions of shape {tuple(actions.shape)}: expected Long [B, N]")
    valid = valid_action_mask(actions, action_mask, n_actions)
    batch, agents, width = valid.shape
    q_original = q_fn(state, actions).reshape(batch)
    current = actions.clone()
    changed = torch.zeros(batch, agents, dtype=torch.bool, device=actions.device)
    best = JointActionSearch(
        actions.clone(),
        q_original,
        q_original.clone(),
        _score(q_original, q_original, objective),
        changed.clone(),
    )
    # candidates[b, i, j] = current[b] with agent i's action set to j.
    is_agent = torch.eye(agents, dtype=torch.bool, device=actions.device)[:, None, :]
    choices = torch.arange(width, device=actions.device)[None, :, None]
    repeated_state = state.repeat_interleave(agents * width, dim=0)
    for round_index in range(min(max_changed, agents)):
        candidates = torch.where(is_agent, choices, current[:, None, None, :])
        q_candidates = q_fn(repeated_state, candidates.reshape(-1, agents)).reshape(batch, agents, width)
        scores = _score(q_original[:, None, None], q_candidates, objective)
        allowed = valid & ~changed[:, :, None] & (choices.squeeze(-1)[None] != actions[:, :, None])
        scores = scores.masked_fill(~allowed, float("-inf"))
        flat_best = scores.reshape(batch, -1).argmax(dim=1)
        has_move = allowed.reshape(batch, -1).any(dim=1)
        agent, action = flat_best // width, flat_best % width
        rows = torch.arange(batch, device=actions.device)
        current[rows[has_move], agent[has_move]] = action[has_move]
        changed[rows[has_move], agent[has_move]] = True
        q_now = q_candidates.reshape(batch, -1)[rows, flat_best]
        q_now = torch.where(has_move, q_now, best.q_perturbed)
        score_now = _score(q_original, q_now, objective)
        # Round 1 always changes an agent (where one can move), so a' ≠ a even if no change hurts.
        improved = has_move & ((score_now > best.score) | (round_index == 0))
        best = JointActionSearch(
            torch.where(improved[:, None], current, best.actions),
            q_original,
            torch.where(improved, q_now, best.q_perturbed),
            torch.where(improved, score_now, best.score),
            torch.where(improved[:, None], changed, best.changed),
        )
    return best


def _score(q_original: Tensor, q_perturbed: Tensor, objective: Objective) -> Tensor:
    difference = q_original - q_perturbed
    return difference.square() if objective == "squared" else difference


class JointActionRegularizer:
    """ERNIE-A: λ · mean (Q(s,a) − Q(s,a'))² with a' the greedy worst joint action within K changes.

    ``mode="gaussian"`` is the random baseline: K random agents take random valid actions.

    Example::

        areg = JointActionRegularizer(RegularizerConfig(kind="action", agents_changed=1))
        loss = td_loss + areg(global_q, state, joint_actions, action_mask=env.action_mask)
    """

    def __init__(self, cfg: RegularizerConfig | None = None) -> None:
        self.cfg = cfg or RegularizerConfig(kind="action")
        self.last_value: float = 0.0

    def __call__(
        self,
        q_fn: QFunction,
        state: Tensor,
        actions: Tensor,
        action_mask: Tensor | None = None,
        *,
        n_actions: int | None = None,
    ) -> Tensor:
        """The weighted regularizer loss; gradients flow into Q at both a and a' (a' itself is discrete)."""
        if self.cfg.mode == "gaussian":
            adversarial = random_joint_actions(actions, self.cfg.agents_changed, action_mask, n_actions)
        else:
            adversarial = greedy_joint_action_search(
                q_fn, state, actions, self.cfg.agents_changed, action_mask, n_actions=n_actions
            ).actions
        q = q_fn(torch.cat([state, state]), torch.cat([actions, adversarial])).reshape(2, -1)
        value = (q[0] - q[1]).square().mean()
        self.last_value = float(value.detach())
        return self.cfg.weight * value


def random_joint_actions(
    actions: Tensor, max_changed: int, action_mask: Tensor | None = None, n_actions: int | None = None
) -> Tensor:
    """``actions`` with ``max_changed`` random agents set to random valid actions (the random baseline)."""
    valid = valid_action_mask(actions, action_mask, n_actions)
    batch, agents, _ = valid.shape
    chosen = torch.rand(batch, agents, device=actions.device).argsort(dim=1)[:, : min(max_changed, agents)]
    random_actions = torch.multinomial(valid.reshape(-1, valid.shape[-1]).float(), 1).reshape(batch, agents)
    result = actions.clone()
    rows = torch.arange(batch, device=actions.device)[:, None]
    result[rows, chosen] = random_actions[rows, chosen]
    return result
