"""COMA (Foerster et al. 2018): decentralized stochastic actors trained with a centralized critic
and a counterfactual baseline; ERNIE / ERNIE-A regularize it.

Read top to bottom: config, the loss pieces as small functions, then the learner. Every
``rollout_steps`` environment steps (and at the end of each episode) the on-policy batch is used:
1. critic targets: TD(λ) returns, bootstrapped by the target critic, of each intersection's own
   reward r_i (``critic_reward: local``, the default) or of the team reward Σ_i r_i (``team``,
   the paper's COMA; on grid2x2 each agent's advantage drowns in the other agents' reward noise
   and it beats random only after more than 40 short episodes, see docs/training.md);
2. critic Q(s, o_i, (a_-i, ·)): ``critic_epochs`` passes of minibatch regression (+ ERNIE-A on its Q(s, a));
3. actors: ``actor_epochs`` steps on −min(ρ_i A_i, clip(ρ_i, 1 ± clip_ratio) A_i) − β H(π_i)
   (+ ERNIE's KL on each policy), with ρ_i = π_i(a_i|o_i) / π_i,old(a_i|o_i) and the counterfactual
   advantage A_i = Q(s, a) − Σ_a' π_i,old(a'|o_i) Q(s, (a_-i, a')) divided by its standard
   deviation over the batch. With one epoch ρ_i = 1 and this is COMA's policy gradient
   −log π_i(a_i|o_i) · A_i; more epochs reuse each on-policy batch as PPO does (Schulman et al.
   2017), with the clip keeping the policy near the one that collected it; with ``target_kl`` a
   batch's steps also end once KL(π_old ‖ π) over the batch exceeds it (PPO's early stop, as in
   Stable-Baselines3): each step is clipped, but many clipped steps still add up.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from ernie_traffic.algorithms.base import (
    Transition,
    frozen_copy,
    load_stateful_parts,
    optimizer_step,
    polyak_update,
    stateful_parts_dict,
)
from ernie_traffic.algorithms.regularization import RegularizerName, RegularizerSettings, build_regularizers
from ernie_traffic.core.divergence import kl
from ernie_traffic.models.networks import CentralCritic, MultiAgentSpec, SharedAgentNet

# Logit of padded (non-existent) actions: a constant, so regularizers see no change there.
INVALID_LOGIT = -1e4


class COMAConfig(BaseModel):
    """Hyper-parameters of COMA."""

    model_config = ConfigDict(extra="forbid")

    hidden: list[int] = Field([128, 128], description="hidden layer widths of actor and critic")
    actor_lr: float = Field(1e-3, gt=0, description="actor learning rate")
    critic_lr: float = Field(1e-3, gt=0, description="critic learning rate")
    gamma: float = Field(0.95, gt=0, le=1, description="discount factor")
    td_lambda: float = Field(0.8, ge=0, le=1, description="λ of the critic's TD(λ) targets")
    critic_reward: Literal["local", "team"] = Field(
        "local", description="critic target: each intersection's own reward, or their sum (paper)"
    )
    rollout_steps: int = Field(30, ge=1, description="environment steps per on-policy batch")
    critic_epochs: int = Field(10, ge=1, description="passes over each batch for the critic")
    minibatch_size: int = Field(32, ge=1, description="time steps per critic minibatch")
    entropy_coef: float = Field(0.01, ge=0, description="β, weight of the policy entropy bonus")
    actor_epochs: int = Field(10, ge=1, description="actor steps per batch (clipped as PPO when > 1)")
    clip_ratio: float = Field(0.2, gt=0, description="clip of the probability ratio, 1 ± this")
    target_kl: float | None = Field(
        None, gt=0, description="end a batch's actor steps once KL(collecting ‖ current policy) exceeds this"
    )
    target_tau: float = Field(0.25, gt=0, le=1, description="Polyak rate of the target critic per batch")
    grad_clip: float = Field(10.0, gt=0, description="max gradient norm")


def counterfactual_baseline(q_all: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """b_i = Σ_a' π_i(a'|o_i) Q(s, (a_-i, a')): [..., N, A] critic values and policies -> [..., N]."""
    return (probs * q_all).sum(dim=-1)


def counterfactual_advantage(q_all: torch.Tensor, probs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """A_i = Q(s, a) − b_i for the taken joint action ``actions`` (Long [..., N])."""
    q_taken = q_all.gather(-1, actions[..., None]).squeeze(-1)
    return q_taken - counterfactual_baseline(q_all, probs)


def td_lambda_returns(
    rewards: torch.Tensor, next_q: torch.Tensor, terminal: torch.Tensor, gamma: float, lam: float
) -> torch.Tensor:
    """TD(λ) targets [T, N] from rewards [T] (team) or [T, N] (per agent), next-step target values
    [T, N] and terminal flags [T]."""
    returns = torch.empty_like(next_q)
    following = next_q[-1]
    for t in reversed(range(rewards.shape[0])):
        bootstrap = (1 - lam) * next_q[t] + lam * following
        returns[t] = rewards[t] + gamma * (1 - terminal[t]) * bootstrap
        following = returns[t]
    return returns


def policy_loss(
    logits: torch.Tensor,
    actions: torch.Tensor,
    advantages: torch.Tensor,
    old_log_probs: torch.Tensor,
    entropy_coef: float,
    clip_ratio: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped policy-gradient loss with entropy bonus; returns (loss, mean entropy). At the policy
    that collected the batch (ρ = 1) its gradient is exactly −∇ log π(a|o) · A."""
    log_probs = F.log_softmax(logits, dim=-1)
    ratio = (log_probs.gather(-1, actions[..., None]).squeeze(-1) - old_log_probs).exp()
    clipped = ratio.clamp(1 - clip_ratio, 1 + clip_ratio)
    surrogate = torch.minimum(ratio * advantages, clipped * advantages)
    entropy = -(log_probs.exp() * log_probs).sum(-1).mean()
    return -surrogate.mean() - entropy_coef * entropy, entropy


class COMA:
    """The COMA learner (see the module docstring for its update)."""

    def __init__(
        self,
        spec: MultiAgentSpec,
        config: COMAConfig,
        reg: RegularizerName = "none",
        reg_settings: RegularizerSettings | None = None,
        seed: int = 0,
    ) -> None:
        torch.manual_seed(seed)
        self.spec, self.config = spec, config
        self.policy_net = SharedAgentNet(spec, config.hidden, pad_value=INVALID_LOGIT)
        self.critic = CentralCritic(spec, config.hidden)
        self.critic_target = frozen_copy(self.critic)
        self.actor_optimizer = torch.optim.Adam(self.policy_net.parameters(), lr=config.actor_lr)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr)
        self.regularizers = build_regularizers(reg, reg_settings or RegularizerSettings(), divergence="kl")
        self.generator = torch.Generator().manual_seed(seed)
        self.rollout: list[Transition] = []

    def logits(self, obs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[B, N, max_obs], bool [B, N, A] -> masked logits [B, N, A]."""
        return self.policy_net.per_agent(obs).masked_fill(~mask, INVALID_LOGIT)

    def act(self, obs: torch.Tensor, mask: torch.Tensor, explore: bool) -> torch.Tensor:
        with torch.no_grad():
            logits = self.logits(obs[None], mask[None])[0]
        if not explore:
            return logits.argmax(dim=-1)
        return torch.multinomial(logits.softmax(-1), 1, generator=self.generator).squeeze(-1)

    def observe(self, transition: Transition) -> dict[str, float]:
        self.rollout.append(transition)
        if len(self.rollout) < self.config.rollout_steps:
            return {}
        return self.update()

    def end_episode(self) -> dict[str, float]:
        return self.update() if self.rollout else {}

    def update(self) -> dict[str, float]:
        batch = Transition.stack(self.rollout)
        self.rollout = []
        targets = self.critic_targets(batch)
        stats = self.update_critic(batch, targets)
        stats.update(self.update_actors(batch))
        polyak_update(self.critic, self.critic_target, self.config.target_tau)
        return stats

    def critic_targets(self, batch: Transition) -> torch.Tensor:
        """TD(λ) returns; the next joint action is the one taken next, or sampled after the batch."""
        with torch.no_grad():
            last = self.act(batch.next_obs[-1], batch.next_mask[-1], explore=True)
            next_actions = torch.cat([batch.actions[1:], last[None]])
            next_q = self.critic_target(batch.next_state, batch.next_obs, next_actions)
            next_q = next_q.gather(-1, next_actions[..., None]).squeeze(-1)
            rewards = batch.rewards if self.config.critic_reward == "local" else batch.rewards.sum(-1)
            return td_lambda_returns(
                rewards, next_q, batch.terminal, self.config.gamma, self.config.td_lambda
            )

    def update_critic(self, batch: Transition, targets: torch.Tensor) -> dict[str, float]:
        c = self.config
        steps = batch.state.shape[0]
        losses, regs = [], []
        for _ in range(c.critic_epochs):
            order = torch.randperm(steps, generator=self.generator)
            for index in order.split(c.minibatch_size):
                state, obs, actions = batch.state[index], batch.obs[index], batch.actions[index]
                q_taken = self.critic(state, obs, actions).gather(-1, actions[..., None]).squeeze(-1)
                loss = F.mse_loss(q_taken, targets[index])
                total = loss
                if self.regularizers.joint_action is not None:
                    sub = self.regularizers.sample_index(len(index), self.generator)
                    reg = self.regularizers.joint_action(
                        self.joint_value,
                        torch.cat([state, obs.flatten(1)], dim=-1)[sub],
                        actions[sub],
                        action_mask=batch.mask[index][sub],
                    )
                    regs.append(float(reg.detach()))
                    total = total + reg
                optimizer_step(self.critic_optimizer, total, c.grad_clip)
                losses.append(float(loss.detach()))
        stats = {"critic": sum(losses) / len(losses)}
        if regs:
            stats["regularizer"] = sum(regs) / len(regs)
        return stats

    def joint_value(self, state_and_obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The critic's Q(s, a) with state and flattened observations in one tensor: the form the
        joint-action regularizer searches over (it treats the first argument as opaque rows)."""
        state, obs = state_and_obs.split(
            [self.spec.state_dim, state_and_obs.shape[-1] - self.spec.state_dim], -1
        )
        return self.critic.joint_value(state, obs.reshape(len(obs), self.spec.n_agents, -1), actions)

    def update_actors(self, batch: Transition) -> dict[str, float]:
        c = self.config
        with torch.no_grad():
            logits = self.logits(batch.obs, batch.mask)
            q_all = self.critic(batch.state, batch.obs, batch.actions)
            advantages = counterfactual_advantage(q_all, logits.softmax(-1), batch.actions)
            # scale-free policy steps: the critic's values grow with the reward scale and horizon
            advantages = advantages / (advantages.std() + 1e-8)
            old_log_probs = F.log_softmax(logits, -1).gather(-1, batch.actions[..., None]).squeeze(-1)
        steps = 0
        for _ in range(c.actor_epochs):
            current = self.logits(batch.obs, batch.mask)
            drift = float(kl(current.detach(), logits, batch_dims=current.dim() - 1).mean())
            if c.target_kl is not None and drift > c.target_kl:
                break
            stats = self.actor_step(batch, current, advantages, old_log_probs)
            steps += 1
        return {**stats, "actor_steps": steps, "policy_drift": drift}

    def actor_step(
        self, batch: Transition, logits: torch.Tensor, advantages: torch.Tensor, old_log_probs: torch.Tensor
    ) -> dict[str, float]:
        spec, c = self.spec, self.config
        loss, entropy = policy_loss(
            logits, batch.actions, advantages, old_log_probs, c.entropy_coef, c.clip_ratio
        )
        stats = {"actor": float(loss.detach()), "entropy": float(entropy.detach())}
        if self.regularizers.observation is not None:
            sub = self.regularizers.sample_index(batch.obs.shape[0], self.generator)
            rows = spec.agent_rows(batch.obs[sub])
            reg = self.regularizers.observation(
                self.policy_net,
                rows,
                self.regularizers.epsilon_scale(),
                spec.perturb_mask(len(sub), self.regularizers.sensors_only),
            )
            stats["regularizer"] = float(reg.detach())
            loss = loss + reg
        optimizer_step(self.actor_optimizer, loss, c.grad_clip)
        return stats

    # everything a resumed run needs to continue exactly (with the learner's generator)
    STATEFUL_PARTS = ("policy_net", "critic", "critic_target", "actor_optimizer", "critic_optimizer")

    def state_dict(self) -> dict[str, Any]:
        # transitions as dicts of their fields: checkpoints hold tensors and plain data only
        rollout = [dict(vars(t)) for t in self.rollout]
        parts = stateful_parts_dict(self, self.STATEFUL_PARTS)
        return {**parts, "rollout": rollout, "regularized_updates": self.regularizers.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_stateful_parts(self, self.STATEFUL_PARTS, state)
        self.rollout = [Transition(**t) for t in state["rollout"]]
        self.regularizers.updates = state.get("regularized_updates", 0)  # absent before the ε ramp
