"""QCOMBO (Zhang, Yang & Zha 2019): independent per-intersection Q-learning combined with a
centralized global Q-function through a consistency loss; ERNIE / ERNIE-A regularize it.

Read top to bottom: config, the three loss terms as small functions, then the learner that
collects experience (ε-greedy), replays it and updates.

Losses on a replayed batch (double-Q targets from the target networks):
- local TD: Q_i(o_i, a_i) -> r_i + γ Q̄_i(o'_i, argmax_a Q_i(o'_i, a))
- global TD: Q(s, a) -> Σ_i r_i + γ Q̄(s', a'*) with a'* the joint greedy action of the local Qs
  (the joint action space is never enumerated; the global Q takes the joint action as input)
- consistency: (Q(s, a) − Σ_i Q_i(o_i, a_i))², weight ``consistency_weight``
- ERNIE: squared ℓ2 between each agent's Q-values at o_i and at the adversarial o_i + δ
- ERNIE-A: squared change of Q(s, a) under the worst change of K agents' actions
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from ernie_traffic.algorithms.base import (
    Transition,
    frozen_copy,
    load_stateful_parts,
    masked_greedy,
    optimizer_step,
    polyak_update,
    random_valid_actions,
    stateful_parts_dict,
)
from ernie_traffic.algorithms.regularization import RegularizerName, RegularizerSettings, build_regularizers
from ernie_traffic.algorithms.replay import ReplayBuffer
from ernie_traffic.models.networks import GlobalQ, MultiAgentSpec, SharedAgentNet


class QCOMBOConfig(BaseModel):
    """Hyper-parameters of QCOMBO (defaults: the paper's where it states them, except the
    consistency weight, chosen on validation seeds: docs/benchmarks.md)."""

    model_config = ConfigDict(extra="forbid")

    hidden: list[int] = Field([128, 128], description="hidden layer widths of the local and global Q")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate")
    gamma: float = Field(0.95, gt=0, le=1, description="discount factor")
    batch_size: int = Field(64, ge=1, description="replayed transitions per update")
    buffer_size: int = Field(50_000, ge=1, description="replay capacity (transitions)")
    learning_starts: int = Field(500, ge=0, description="environment steps before the first update")
    train_every: int = Field(1, ge=1, description="environment steps between updates")
    target_tau: float = Field(0.01, gt=0, le=1, description="Polyak rate of the target networks")
    epsilon_start: float = Field(1.0, ge=0, le=1, description="initial exploration rate")
    epsilon_end: float = Field(0.05, ge=0, le=1, description="final exploration rate")
    epsilon_decay_steps: int = Field(5_000, ge=1, description="environment steps of the linear decay")
    consistency_weight: float = Field(
        0.0,
        ge=0,
        description="weight of the global/local consistency loss; 0: the local Qs learn on their own "
        "rewards only (measured best on grid2x2; the paper's 1.7 costs 5-7 % delay there). ERNIE-A "
        "runs default to 1.7: their regularizer reaches the local policies only through this loss",
    )
    grad_clip: float = Field(10.0, gt=0, description="max gradient norm")


def td_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Huber TD loss (robust to the occasional large traffic reward)."""
    return F.smooth_l1_loss(predicted, target.detach())


def consistency_loss(global_q: torch.Tensor, local_q: torch.Tensor) -> torch.Tensor:
    """QCOMBO's regularizer: [B] global Q(s, a) against [B, N] local Q_i(o_i, a_i), summed over i."""
    return ((global_q - local_q.sum(dim=-1)) ** 2).mean()


def double_q_targets(
    batch: Transition,
    local_q: SharedAgentNet,
    local_target: SharedAgentNet,
    global_target: GlobalQ,
    gamma: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Local [B, N] and global [B] TD targets; greedy next actions chosen by the online local Qs."""
    with torch.no_grad():
        next_greedy = masked_greedy(local_q.per_agent(batch.next_obs), batch.next_mask)
        next_local = local_target.per_agent(batch.next_obs).gather(-1, next_greedy[..., None]).squeeze(-1)
        continuing = 1.0 - batch.terminal
        local_y = batch.rewards + gamma * continuing[:, None] * next_local
        global_y = batch.rewards.sum(-1) + gamma * continuing * global_target(batch.next_state, next_greedy)
    return local_y, global_y


def epsilon_at(config: QCOMBOConfig, steps: int) -> float:
    """The exploration rate after ``steps`` environment steps: linear from ``epsilon_start`` to
    ``epsilon_end`` over ``epsilon_decay_steps``, then constant."""
    progress = min(1.0, steps / config.epsilon_decay_steps)
    return config.epsilon_start + progress * (config.epsilon_end - config.epsilon_start)


def epsilon_greedy(
    policy_net: SharedAgentNet,
    obs: torch.Tensor,
    mask: torch.Tensor,
    epsilon: float | None,
    generator: torch.Generator,
) -> torch.Tensor:
    """Each agent's greedy action, replaced by a random valid one with probability ``epsilon``
    (None: greedy, drawing nothing from ``generator``). [N, max_obs], bool [N, A] -> Long [N]."""
    with torch.no_grad():
        greedy = masked_greedy(policy_net.per_agent(obs[None])[0], mask)
    if epsilon is None:
        return greedy
    explore_agent = torch.rand(policy_net.spec.n_agents, generator=generator) < epsilon
    return torch.where(explore_agent, random_valid_actions(mask, generator), greedy)


def local_q_net(spec: MultiAgentSpec, config: QCOMBOConfig) -> SharedAgentNet:
    """The per-intersection Q network (the deployed policy)."""
    return SharedAgentNet(spec, config.hidden, pad_value=0.0)


class QCOMBOExplorer:
    """QCOMBO's exploring policy apart from its learner, for a rollout worker: ε-greedy on a
    snapshot of the learner's local Q network, with the ε the learner's schedule gives from
    ``first_step`` on (one step per action, as the learner counts the steps it observes) and its
    own generator seeded with ``seed``."""

    def __init__(
        self,
        spec: MultiAgentSpec,
        config: QCOMBOConfig,
        policy_state: dict[str, torch.Tensor],
        first_step: int,
        seed: int,
    ) -> None:
        self.policy_net = local_q_net(spec, config)
        self.policy_net.load_state_dict(policy_state)
        self.config, self.steps = config, first_step
        self.generator = torch.Generator().manual_seed(seed)

    def act(self, obs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        actions = epsilon_greedy(
            self.policy_net, obs, mask, epsilon_at(self.config, self.steps), self.generator
        )
        self.steps += 1
        return actions


class QCOMBO:
    """The QCOMBO learner (see the module docstring for its losses)."""

    def __init__(
        self,
        spec: MultiAgentSpec,
        config: QCOMBOConfig,
        reg: RegularizerName = "none",
        reg_settings: RegularizerSettings | None = None,
        seed: int = 0,
    ) -> None:
        torch.manual_seed(seed)
        self.spec, self.config = spec, config
        self.policy_net = local_q_net(spec, config)
        self.global_q = GlobalQ(spec, config.hidden)
        self.policy_target = frozen_copy(self.policy_net)
        self.global_target = frozen_copy(self.global_q)
        params = [*self.policy_net.parameters(), *self.global_q.parameters()]
        self.optimizer = torch.optim.Adam(params, lr=config.lr)
        self.regularizers = build_regularizers(reg, reg_settings or RegularizerSettings(), divergence="l2")
        self.replay = ReplayBuffer(Transition, config.buffer_size)
        self.generator = torch.Generator().manual_seed(seed)
        self.steps = 0

    def act(self, obs: torch.Tensor, mask: torch.Tensor, explore: bool) -> torch.Tensor:
        epsilon = epsilon_at(self.config, self.steps) if explore else None
        return epsilon_greedy(self.policy_net, obs, mask, epsilon, self.generator)

    def observe(self, transition: Transition) -> dict[str, float]:
        self.replay.add(transition)
        self.steps += 1
        c = self.config
        if self.steps < c.learning_starts or self.steps % c.train_every:
            return {}
        return self.update(self.replay.sample(c.batch_size, self.generator))

    def end_episode(self) -> dict[str, float]:
        return {}

    def losses(self, batch: Transition) -> dict[str, torch.Tensor]:
        """Named loss terms on one batch; ``total`` is what the optimizer minimizes."""
        c, spec = self.config, self.spec
        local_y, global_y = double_q_targets(
            batch, self.policy_net, self.policy_target, self.global_target, c.gamma
        )
        rows = spec.agent_rows(batch.obs)
        local_all = self.policy_net(rows).reshape(-1, spec.n_agents, spec.max_actions)
        local_taken = local_all.gather(-1, batch.actions[..., None]).squeeze(-1)
        global_taken = self.global_q(batch.state, batch.actions)
        terms = {
            "local_td": td_loss(local_taken, local_y),
            "global_td": td_loss(global_taken, global_y),
            "consistency": consistency_loss(global_taken, local_taken),
        }
        total = terms["local_td"] + terms["global_td"] + c.consistency_weight * terms["consistency"]
        regs = self.regularizers
        if regs.observation is not None or regs.joint_action is not None:
            index = regs.sample_index(batch.obs.shape[0], self.generator)
            if regs.observation is not None:
                sub_rows = spec.agent_rows(batch.obs[index])
                mask = spec.perturb_mask(len(index), regs.sensors_only)
                # The clean Q-values of these rows are already in local_all: no second forward pass.
                clean = local_all[index].reshape(-1, spec.max_actions)
                terms["regularizer"] = regs.observation(
                    self.policy_net, sub_rows, regs.epsilon_scale(), mask, clean=clean
                )
            else:
                state, actions, valid = batch.state[index], batch.actions[index], batch.mask[index]
                terms["regularizer"] = regs.joint_action(self.global_q, state, actions, action_mask=valid)
            total = total + terms["regularizer"]
        terms["total"] = total
        return terms

    def update(self, batch: Transition) -> dict[str, float]:
        terms = self.losses(batch)
        optimizer_step(self.optimizer, terms["total"], self.config.grad_clip)
        polyak_update(self.policy_net, self.policy_target, self.config.target_tau)
        polyak_update(self.global_q, self.global_target, self.config.target_tau)
        return {name: float(value.detach()) for name, value in terms.items()}

    # everything a resumed run needs to continue exactly (with the learner's generator)
    STATEFUL_PARTS = ("policy_net", "global_q", "policy_target", "global_target", "optimizer", "replay")

    def state_dict(self) -> dict[str, Any]:
        parts = stateful_parts_dict(self, self.STATEFUL_PARTS)
        return {**parts, "steps": self.steps, "regularized_updates": self.regularizers.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_stateful_parts(self, self.STATEFUL_PARTS, state)
        self.steps = state["steps"]
        self.regularizers.updates = state.get("regularized_updates", 0)  # absent before the ε ramp
