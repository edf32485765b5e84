"""The learner toolkit: two families of multi-agent learners, the records they learn from, and the
helpers they share (target networks, Polyak averaging, optimizer steps, greedy and random actions).

- Discrete learners (QCOMBO, COMA) control traffic signals: the agents' observations are padded to
  one width, an action indexes an intersection's green phases (a mask marks the valid ones), and
  :mod:`ernie_traffic.training` drives them step by step with :class:`Transition` records.
- Continuous learners (MADDPG, mean-field MADDPG) are the lab's (:mod:`ernie_traffic.lab`): each
  agent has its own observation and action sizes, actions lie in [0, 1]^k, and the lab's loop
  updates them after each episode from replayed :class:`ContinuousTransition` batches.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields
from typing import Any, Protocol

import numpy as np
import torch

from ernie_traffic.models.networks import MultiAgentSpec, SharedAgentNet


@dataclass
class Transition:
    """One environment step of all agents, as tensors in ``spec.agents`` order; a batch of steps
    (the replay buffer's samples, COMA's rollouts) is the same record with a leading batch dimension.

    ``obs``/``next_obs`` are [N, max_obs] (zero-padded), ``state``/``next_state`` [S],
    ``actions`` Long [N], ``rewards`` [N] (each intersection's own reward; the team reward is
    their sum), ``mask``/``next_mask`` bool [N, max_actions], ``terminal`` 1.0 only when the
    episode really ended (a time limit is not terminal: targets bootstrap through it).
    """

    obs: torch.Tensor
    state: torch.Tensor
    mask: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_obs: torch.Tensor
    next_state: torch.Tensor
    next_mask: torch.Tensor
    terminal: float | torch.Tensor

    @classmethod
    def stack(cls, steps: list[Transition]) -> Transition:
        """Consecutive steps as one batch, [T, ...] each field."""
        return cls(
            **{f.name: torch.stack([torch.as_tensor(getattr(s, f.name)) for s in steps]) for f in fields(cls)}
        )


@dataclass
class ContinuousTransition:
    """One joint step of agents whose observation and action sizes may differ (the lists are
    indexed by agent), or, from the replay buffer, a batch of them with a leading batch dimension.
    A step holds what the environment gave (arrays, floats); a batch holds tensors."""

    obs: list[torch.Tensor] | list[np.ndarray]
    actions: list[torch.Tensor] | list[np.ndarray]
    rewards: torch.Tensor | np.ndarray  # [n_agents]
    next_obs: list[torch.Tensor] | list[np.ndarray]
    done: torch.Tensor | float  # 1.0 where the episode ended by termination


class DiscreteLearner(Protocol):
    """A traffic-signal learner driven step by step by :mod:`ernie_traffic.training`."""

    spec: MultiAgentSpec
    policy_net: SharedAgentNet  # the decentralized network deployed at each intersection

    def act(self, obs: torch.Tensor, mask: torch.Tensor, explore: bool) -> torch.Tensor:
        """[N, max_obs], bool [N, max_actions] -> Long [N] actions."""

    def observe(self, transition: Transition) -> dict[str, float]:
        """Record one step (and update, when due); returns the loss terms of any update."""

    def end_episode(self) -> dict[str, float]:
        """Called after each training episode (on-policy learners update here)."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class ContinuousLearner(Protocol):
    """A lab learner: what the lab's training loop and its evaluation need."""

    actors: list[torch.nn.Module]  # agent i's deterministic policy (what an observation attack targets)

    def act(self, obs: list[np.ndarray], explore: bool, rng: np.random.Generator) -> list[np.ndarray]: ...

    def update(self, batch: ContinuousTransition) -> dict[str, float]:
        """One gradient step on a replayed batch; returns the loss terms."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def stateful_parts_dict(learner: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """``state_dict()`` of each named part (modules, optimizers, buffers) and the learner's generator."""
    state = {name: getattr(learner, name).state_dict() for name in names}
    state["generator"] = learner.generator.get_state()
    return state


def load_stateful_parts(learner: Any, names: tuple[str, ...], state: dict[str, Any]) -> None:
    """Inverse of :func:`stateful_parts_dict`."""
    for name in names:
        getattr(learner, name).load_state_dict(state[name])
    learner.generator.set_state(state["generator"])


def masked_greedy(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Argmax over the valid actions only: [..., A] values, bool [..., A] mask -> Long [...]."""
    return values.masked_fill(~mask, float("-inf")).argmax(dim=-1)


def random_valid_actions(mask: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A uniformly random valid action per row of a bool [N, A] mask."""
    return torch.multinomial(mask.float(), 1, generator=generator).squeeze(-1)


def frozen_copy(module: torch.nn.Module) -> torch.nn.Module:
    """A target network: a copy that no optimiser touches."""
    return copy.deepcopy(module).requires_grad_(False)


def polyak_update(online: torch.nn.Module, target: torch.nn.Module, tau: float) -> None:
    """target ← (1 − τ) target + τ online."""
    with torch.no_grad():
        for p_target, p in zip(target.parameters(), online.parameters(), strict=True):
            p_target.lerp_(p, tau)


def optimizer_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, grad_clip: float) -> None:
    """Backpropagate ``loss``, clip the gradient norm of the optimizer's parameters, step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    torch.nn.utils.clip_grad_norm_(params, grad_clip)
    optimizer.step()
