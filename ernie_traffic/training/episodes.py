"""One exploring episode, stepped the same way whether the learner acts itself or a rollout worker
acts for it, and the loss record of what the learner learned from it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ernie_traffic.algorithms import DiscreteLearner, Transition
from ernie_traffic.envs.traffic import TrafficSignalEnv
from ernie_traffic.models.networks import MultiAgentSpec, pad_observations

ActFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # [N, max_obs], bool [N, A] -> Long [N]
StepFn = Callable[[Transition], None]


def _tensors(env: TrafficSignalEnv, spec: MultiAgentSpec, obs: dict) -> tuple[torch.Tensor, ...]:
    state = torch.as_tensor(np.asarray(env.state()), dtype=torch.float32)
    mask = torch.as_tensor(np.asarray(env.action_mask), dtype=torch.bool)
    return pad_observations(spec, obs), state, mask


def play_episode(
    env: TrafficSignalEnv, spec: MultiAgentSpec, obs: dict, act: ActFn, reward_scale: float, on_step: StepFn
) -> dict[str, Any]:
    """Step the episode that starts at the reset observations ``obs`` to its end, choosing actions
    with ``act`` and handing each step's transition (rewards times ``reward_scale``) to ``on_step``;
    returns its unscaled team return, its steps and the environment's episode metrics."""
    obs_t, state, mask = _tensors(env, spec, obs)
    team_return, steps, done = 0.0, 0, False
    while not done:
        actions = act(obs_t, mask)
        step_actions = {agent: int(actions[i]) for i, agent in enumerate(spec.agents)}
        next_obs, rewards, terminations, truncations, _ = env.step(step_actions)
        done = not env.agents or any(terminations.values()) or any(truncations.values())
        # the env may omit the observations of agents that are done; keep their last ones
        next_obs_t, next_state, next_mask = _tensors(env, spec, {**obs, **next_obs})
        reward = torch.tensor([float(rewards.get(agent, 0.0)) for agent in spec.agents])
        terminal = float(any(terminations.values()))
        scaled = reward * reward_scale
        on_step(Transition(obs_t, state, mask, actions, scaled, next_obs_t, next_state, next_mask, terminal))
        obs = {**obs, **next_obs}
        obs_t, state, mask = next_obs_t, next_state, next_mask
        team_return += float(reward.sum())
        steps += 1
    return {"return": team_return, "steps": steps, **env.episode_metrics()}


class EpisodeLosses:
    """Hands an episode's transitions to ``learner`` and averages the loss terms of the updates
    they cause, for the episode's metrics record."""

    def __init__(self, learner: DiscreteLearner) -> None:
        self.learner = learner
        self.losses: dict[str, list[float]] = defaultdict(list)

    def observe(self, transition: Transition) -> None:
        for name, value in self.learner.observe(transition).items():
            self.losses[name].append(value)

    def end_episode(self) -> dict[str, float]:
        """Ends the learner's episode; returns ``loss/<term>`` means and the mean ``regularizer``."""
        losses = self.losses
        for name, value in self.learner.end_episode().items():
            losses[name].append(value)
        record = {f"loss/{name}": sum(v) / len(v) for name, v in losses.items() if name != "regularizer"}
        record["regularizer"] = (
            sum(losses["regularizer"]) / len(losses["regularizer"]) if losses["regularizer"] else 0.0
        )
        return record


def run_training_episode(
    env: TrafficSignalEnv, learner: DiscreteLearner, spec: MultiAgentSpec, obs: dict, reward_scale: float
) -> dict[str, Any]:
    """One exploring episode the learner acts in and learns from, step by step; its training record."""
    losses = EpisodeLosses(learner)

    def act(obs_t: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return learner.act(obs_t, mask, explore=True)

    return {**play_episode(env, spec, obs, act, reward_scale, losses.observe), **losses.end_episode()}
