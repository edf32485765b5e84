"""Mean-field MADDPG and mean-field ERNIE for many-agent cooperative navigation.

All agents share one actor and one critic (agents are homogeneous). Agent j's critic sees

    Q(o_j, a_j, d_s, ā_j)

its own observation and action, the empirical distribution ``d_s`` of the *other* agents'
positions as a fixed ``bins × bins`` histogram over ``[-extent, extent]²`` (positions outside are
clamped to the border bins), and the others' mean action ``ā_j``. None of these sizes depends on
the number of agents N, so neither does the critic (with the env's nearest-neighbour
observations, the actor does not either).

Mean-field ERNIE adds the core's :class:`MeanFieldRegularizer` to the critic loss: the largest
change of Q when ``d_s`` moves within a Wasserstein ball (ground cost: distance between bin
centres), as in section 4.4 of the paper; and, optionally, the observation regularizer on the
actor (``regularizer``), as in MADDPG+ERNIE.

The layout of mpe2's ``simple_spread`` observation is ``[vel(2), pos(2), landmarks…, agents…]``,
so an agent's absolute position is ``obs[2:4]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import nn

from ernie_traffic.algorithms.base import ContinuousTransition, frozen_copy, optimizer_step, polyak_update
from ernie_traffic.algorithms.maddpg import MADDPGConfig
from ernie_traffic.core import MeanFieldRegularizer, ObservationRegularizer, RegularizerConfig
from ernie_traffic.models.particle import DeterministicActor, QCritic

POSITION = slice(2, 4)


class MeanFieldConfig(MADDPGConfig):
    """Mean-field MADDPG hyperparameters; ``mean_field_regularizer`` turns it into mean-field ERNIE."""

    histogram_bins: int = Field(5, ge=1, description="Bins per axis of the others' position histogram d_s.")
    histogram_extent: float = Field(1.5, gt=0, description="The histogram covers [-extent, extent]².")
    mean_field_regularizer: RegularizerConfig | None = Field(
        None, description="Wasserstein-bounded attack on d_s inside the critic (mean-field ERNIE)."
    )

    @model_validator(mode="after")
    def _no_m3ddpg(self) -> MeanFieldConfig:
        if self.m3ddpg_epsilon:
            raise ValueError("m3ddpg_epsilon is not supported by the mean-field learner")
        return self


def meanfield_variant(name: str, **overrides: Any) -> MeanFieldConfig:
    """``baseline`` (mean-field MADDPG) or ``ernie`` (mean-field ERNIE); ``overrides`` replace fields."""
    ernie = {
        "mean_field_regularizer": {"kind": "mean_field", "epsilon": 0.2, "steps": 2, "weight": 1.0},
        "regularizer": {"kind": "observation", "epsilon": 0.3, "steps": 2, "weight": 1.0, "mode": "plain"},
    }
    presets: dict[str, dict[str, Any]] = {"baseline": {}, "ernie": ernie}
    return MeanFieldConfig.model_validate({**presets[name], **overrides})


class PositionHistogram:
    """Each agent's view of the others: the histogram of their positions, normalised to sum 1."""

    def __init__(self, bins: int, extent: float):
        self.bins, self.extent = bins, extent
        centres = (torch.arange(bins, dtype=torch.float32) + 0.5) / bins * 2 * extent - extent
        grid = torch.stack(torch.meshgrid(centres, centres, indexing="ij"), dim=-1).reshape(-1, 2)
        #: Transport cost between bins: Euclidean distance between their centres, ``[bins², bins²]``.
        self.ground_cost = torch.cdist(grid, grid)

    def __call__(self, positions: torch.Tensor) -> torch.Tensor:
        """``positions [batch, N, 2]`` -> ``d_s [batch, N, bins²]``, agent j's row excluding j."""
        cell = ((positions + self.extent) / (2 * self.extent) * self.bins).long().clamp(0, self.bins - 1)
        own = nn.functional.one_hot(cell[..., 0] * self.bins + cell[..., 1], self.bins**2).float()
        n_agents = positions.shape[1]
        return (own.sum(dim=1, keepdim=True) - own) / (n_agents - 1)


def others_mean(x: torch.Tensor) -> torch.Tensor:
    """``x [batch, N, k]`` -> for each agent, the mean over the other agents ``[batch, N, k]``."""
    return (x.sum(dim=1, keepdim=True) - x) / (x.shape[1] - 1)


class MeanFieldMADDPG:
    """Shared actor ``μ(o_j)`` and shared mean-field critic ``Q(o_j, a_j, d_s, ā_j)`` for N agents.

    >>> learner = MeanFieldMADDPG(obs_dim=18, act_dim=5, n_agents=10, config=meanfield_variant("ernie"))
    """

    def __init__(self, obs_dim: int, act_dim: int, n_agents: int, config: MeanFieldConfig):
        if n_agents < 2:
            raise ValueError("mean-field learning needs at least 2 agents")
        self.config = config
        self.n_agents = n_agents
        self.act_dim = act_dim
        self.histogram = PositionHistogram(config.histogram_bins, config.histogram_extent)
        critic_in = obs_dim + act_dim + config.histogram_bins**2 + act_dim
        self.actor = DeterministicActor(obs_dim, act_dim, config.hidden)
        self.critic = QCritic(critic_in, config.hidden)
        self.target_actor = frozen_copy(self.actor)
        self.target_critic = frozen_copy(self.critic)
        self.actor_optim = torch.optim.Adam(self.actor.parameters(), lr=config.actor_lr)
        self.critic_optim = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr)
        self.regularizer = ObservationRegularizer(config.regularizer) if config.regularizer else None
        mf = config.mean_field_regularizer
        self.mean_field_regularizer = MeanFieldRegularizer(mf) if mf else None

    @property
    def actors(self) -> list[nn.Module]:
        return [self.actor] * self.n_agents

    def act(self, obs: list[np.ndarray], explore: bool, rng: np.random.Generator) -> list[np.ndarray]:
        with torch.no_grad():
            actions = self.actor(torch.as_tensor(np.stack(obs))).numpy()
        if explore and self.config.exploration_noise > 0:
            actions = np.clip(actions + rng.normal(0, self.config.exploration_noise, actions.shape), 0, 1)
        return list(actions.astype(np.float32))

    def update(self, batch: ContinuousTransition) -> dict[str, float]:
        """One critic and one actor step on every agent's row of every sampled transition."""
        cfg = self.config
        obs, next_obs = torch.stack(batch.obs, dim=1), torch.stack(batch.next_obs, dim=1)
        actions = torch.stack(batch.actions, dim=1)
        d_s, next_d_s = self.histogram(obs[..., POSITION]), self.histogram(next_obs[..., POSITION])

        with torch.no_grad():
            next_actions = self.target_actor(next_obs)
            next_q = self.target_critic(next_obs, next_actions, next_d_s, others_mean(next_actions))
            target = batch.rewards + cfg.gamma * (1.0 - batch.done[:, None]) * next_q
        mean_action = others_mean(actions)
        critic_loss = nn.functional.mse_loss(self.critic(obs, actions, d_s, mean_action), target)
        logs = {"critic_loss": critic_loss.item()}
        if self.mean_field_regularizer is not None:
            # Mean-field ERNIE: Q must not swing when the others' distribution moves a little.
            reg = self.mean_field_regularizer(
                self.q_of_distribution,
                torch.cat([obs, actions, mean_action], dim=-1).flatten(0, 1),
                d_s.flatten(0, 1),
                self.histogram.ground_cost,
            )
            critic_loss = critic_loss + reg
            logs["mean_field_regularizer"] = reg.item()
        optimizer_step(self.critic_optim, critic_loss, cfg.grad_clip)

        logits = self.actor.logits(obs)
        actor_loss = -self.critic(obs, torch.sigmoid(logits), d_s, mean_action).mean()
        logs["actor_loss"] = actor_loss.item()
        if cfg.action_penalty > 0:
            actor_loss = actor_loss + cfg.action_penalty * logits.pow(2).mean()
        if self.regularizer is not None:
            reg = self.regularizer(self.actor, obs.flatten(0, 1))
            actor_loss = actor_loss + reg
            logs["regularizer"] = reg.item()
        optimizer_step(self.actor_optim, actor_loss, cfg.grad_clip)
        polyak_update(self.actor, self.target_actor, cfg.tau)
        polyak_update(self.critic, self.target_critic, cfg.tau)
        return logs

    def q_of_distribution(self, agent_view: torch.Tensor, d_s: torch.Tensor) -> torch.Tensor:
        """Q with d_s as a separate argument, the form the core's mean-field attack perturbs.

        ``agent_view`` is ``[o_j, a_j, ā_j]`` concatenated; returns ``[rows, 1]``.
        """
        obs_and_action, mean_action = agent_view.split(
            [agent_view.shape[-1] - self.act_dim, self.act_dim], -1
        )
        return self.critic(obs_and_action, d_s, mean_action).unsqueeze(-1)

    def state_dict(self) -> dict[str, Any]:
        names = ("actor", "critic", "target_actor", "target_critic", "actor_optim", "critic_optim")
        return {n: getattr(self, n).state_dict() for n in names}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, s in state.items():
            getattr(self, name).load_state_dict(s)
