"""MADDPG and its robust variants: M3DDPG, MADDPG+ERNIE, MADDPG+Baseline-Gaussian.

Centralised critics ``Q_i(o_1..o_N, a_1..a_N)``, decentralised deterministic actors ``μ_i(o_i)``
(Lowe et al. 2017). The variants differ only in two optional terms:

* M3DDPG (Li et al. 2019): inside agent i's critic, the other agents' actions take one
  normalised gradient step that lowers ``Q_i`` (the minimax one-step approximation), bounded
  by ``m3ddpg_epsilon`` in ℓ2 over the others' joint action. It is applied in the critic
  target *and* in the actor loss (the original code forgot the latter).
* ERNIE / Baseline-Gaussian: the core's :class:`ObservationRegularizer` on each actor's output
  (ℓ2 divergence), adversarial (plain or Stackelberg) or Gaussian; added to the actor loss.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from ernie_traffic.algorithms.base import ContinuousTransition, frozen_copy, optimizer_step, polyak_update
from ernie_traffic.core import ObservationRegularizer, RegularizerConfig
from ernie_traffic.models.particle import DeterministicActor, QCritic


class MADDPGConfig(BaseModel):
    """Hyperparameters of MADDPG and its variants (defaults: the MADDPG paper's, smaller nets)."""

    model_config = ConfigDict(extra="forbid")

    hidden: int = Field(64, ge=1, description="Width of the two hidden layers of actors and critics.")
    actor_lr: float = Field(1e-3, gt=0)
    critic_lr: float = Field(1e-3, gt=0)
    gamma: float = Field(0.95, ge=0, le=1, description="Discount factor.")
    tau: float = Field(0.01, gt=0, le=1, description="Polyak rate of the target networks.")
    batch_size: int = Field(256, ge=1)
    exploration_noise: float = Field(
        0.1, ge=0, description="Std of Gaussian noise on actions while training."
    )
    grad_clip: float = Field(0.5, gt=0, description="Max gradient norm of every update.")
    action_penalty: float = Field(
        0.0,
        ge=0,
        description="Weight of the mean squared pre-sigmoid action in the actor loss (the MADDPG authors' "
        "code uses 1e-3): keeps actions off the sigmoid's flat ends, where the policy gradient vanishes "
        "and a deterministic actor gets stuck at a bound.",
    )
    m3ddpg_epsilon: float = Field(
        0.0, ge=0, description="M3DDPG: ℓ2 budget of the other agents' worst-case action step (0: off)."
    )
    regularizer: RegularizerConfig | None = Field(
        None, description="ERNIE (adversarial) or Baseline-Gaussian regularizer on the actors' outputs."
    )


ParticleLearner = Literal["maddpg", "m3ddpg", "ernie", "ernie-plain", "gaussian"]


def maddpg_variant(name: ParticleLearner, **overrides: Any) -> MADDPGConfig:
    """The config of a named learner; ``overrides`` replace any field."""
    ernie = {
        "kind": "observation",
        "epsilon": 0.3,
        "steps": 2,
        "norm": "l2",
        "divergence": "l2",
        "weight": 1.0,
    }
    presets: dict[str, dict[str, Any]] = {
        "maddpg": {},
        "m3ddpg": {"m3ddpg_epsilon": 0.05},
        "ernie": {"regularizer": {**ernie, "mode": "stackelberg"}},
        "ernie-plain": {"regularizer": {**ernie, "mode": "plain"}},
        "gaussian": {"regularizer": {**ernie, "mode": "gaussian"}},
    }
    return MADDPGConfig.model_validate({**presets[name], **overrides})


def worst_case_others(
    q_fn: Any, obs: list[torch.Tensor], actions: list[torch.Tensor], agent: int, epsilon: float
) -> list[torch.Tensor]:
    """M3DDPG's one-step minimax: move the other agents' actions against ``q_fn``.

    Each row's perturbation of the others' joint action is ``-ε ∇/‖∇‖`` (ℓ2 norm over all other
    agents' action dims), so its norm is at most ``ε``; clamping to the action range [0, 1] only
    shrinks it. Agent ``agent``'s own action is returned unchanged (same tensor, gradient kept).
    """
    others = [j for j in range(len(actions)) if j != agent]
    probes = [
        a.detach().clone().requires_grad_(True) if j != agent else a.detach() for j, a in enumerate(actions)
    ]
    grads = torch.autograd.grad(q_fn(*obs, *probes).sum(), [probes[j] for j in others])
    norm = torch.cat(grads, dim=-1).norm(dim=-1, keepdim=True).clamp_min(1e-12)
    moved = list(actions)
    for j, g in zip(others, grads, strict=True):
        moved[j] = (actions[j].detach() - epsilon * g / norm).clamp(0.0, 1.0)
    return moved


class MADDPG:
    """MADDPG learner for ``n`` agents with (possibly different) observation/action sizes.

    >>> learner = MADDPG([18, 18, 18], [5, 5, 5], maddpg_variant("ernie"))
    >>> actions = learner.act([np.zeros(18, np.float32)] * 3, explore=True, rng=np.random.default_rng(0))
    """

    def __init__(self, obs_dims: list[int], act_dims: list[int], config: MADDPGConfig):
        self.config = config
        self.n_agents = len(obs_dims)
        critic_in = sum(obs_dims) + sum(act_dims)
        self.actors = [
            DeterministicActor(o, a, config.hidden) for o, a in zip(obs_dims, act_dims, strict=True)
        ]
        self.critics = [QCritic(critic_in, config.hidden) for _ in obs_dims]
        self.target_actors = [frozen_copy(m) for m in self.actors]
        self.target_critics = [frozen_copy(m) for m in self.critics]
        self.actor_optims = [torch.optim.Adam(m.parameters(), lr=config.actor_lr) for m in self.actors]
        self.critic_optims = [torch.optim.Adam(m.parameters(), lr=config.critic_lr) for m in self.critics]
        self.regularizer = ObservationRegularizer(config.regularizer) if config.regularizer else None

    def act(self, obs: list[np.ndarray], explore: bool, rng: np.random.Generator) -> list[np.ndarray]:
        """Each agent's action for its observation; Gaussian exploration noise if ``explore``."""
        with torch.no_grad():
            actions = [
                actor(torch.as_tensor(o).unsqueeze(0))[0].numpy()
                for actor, o in zip(self.actors, obs, strict=True)
            ]
        if explore and self.config.exploration_noise > 0:
            actions = [
                np.clip(a + rng.normal(0, self.config.exploration_noise, a.shape), 0, 1) for a in actions
            ]
        return [a.astype(np.float32) for a in actions]

    def update(self, batch: ContinuousTransition) -> dict[str, float]:
        """One gradient step of every critic and actor, then the target networks; returns losses."""
        logs: dict[str, float] = {}
        with torch.no_grad():
            next_actions = [actor(o) for actor, o in zip(self.target_actors, batch.next_obs, strict=True)]
        for i in range(self.n_agents):
            logs |= self._update_agent(i, batch, next_actions)
        for pairs in ((self.target_actors, self.actors), (self.target_critics, self.critics)):
            for target, source in zip(*pairs, strict=True):
                polyak_update(source, target, self.config.tau)
        return logs

    def _update_agent(
        self, i: int, batch: ContinuousTransition, next_actions: list[torch.Tensor]
    ) -> dict[str, float]:
        cfg = self.config
        critic, actor = self.critics[i], self.actors[i]
        # Critic: TD target from the target networks (the others' next actions adversarial for M3DDPG).
        if cfg.m3ddpg_epsilon > 0:
            next_actions = worst_case_others(
                self.target_critics[i], batch.next_obs, next_actions, i, cfg.m3ddpg_epsilon
            )
        with torch.no_grad():
            next_q = self.target_critics[i](*batch.next_obs, *next_actions)
            target = batch.rewards[:, i] + cfg.gamma * (1.0 - batch.done) * next_q
        critic_loss = nn.functional.mse_loss(critic(*batch.obs, *batch.actions), target)
        optimizer_step(self.critic_optims[i], critic_loss, cfg.grad_clip)

        # Actor: deterministic policy gradient through the critic, own action from the actor.
        actions = list(batch.actions)
        logits = actor.logits(batch.obs[i])
        actions[i] = torch.sigmoid(logits)
        if cfg.m3ddpg_epsilon > 0:
            actions = worst_case_others(critic, batch.obs, actions, i, cfg.m3ddpg_epsilon)
        actor_loss = -critic(*batch.obs, *actions).mean()
        logs = {f"critic_loss/{i}": critic_loss.item(), f"actor_loss/{i}": actor_loss.item()}
        if cfg.action_penalty > 0:
            actor_loss = actor_loss + cfg.action_penalty * logits.pow(2).mean()
        if self.regularizer is not None:
            # ERNIE / Gaussian: smoothness of the actor's output around its observations.
            reg = self.regularizer(actor, batch.obs[i])
            actor_loss = actor_loss + reg
            logs[f"regularizer/{i}"] = reg.item()
        optimizer_step(self.actor_optims[i], actor_loss, cfg.grad_clip)
        return logs

    def state_dict(self) -> dict[str, Any]:
        groups = ("actors", "critics", "target_actors", "target_critics", "actor_optims", "critic_optims")
        return {g: [m.state_dict() for m in getattr(self, g)] for g in groups}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for group, states in state.items():
            for module, s in zip(getattr(self, group), states, strict=True):
                module.load_state_dict(s)
