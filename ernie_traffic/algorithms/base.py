"""What the training loop needs from a learner, and the transition it hands over each step."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from ernie_traffic.models.networks import MultiAgentSpec, SharedAgentNet


@dataclass
class Transition:
    """One environment step of all agents, as tensors in ``spec.agents`` order.

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
    terminal: float


class Learner(Protocol):
    """A multi-agent learner driven step by step by :mod:`ernie_traffic.training`."""

    spec: MultiAgentSpec
    policy_net: SharedAgentNet  # the decentralized network deployed at each intersection

    def act(self, obs: torch.Tensor, mask: torch.Tensor, explore: bool) -> torch.Tensor:
        """[N, max_obs], bool [N, max_actions] -> Long [N] actions."""
        ...

    def observe(self, transition: Transition) -> dict[str, float]:
        """Record one step (and update, when due); returns the loss terms of any update."""
        ...

    def end_episode(self) -> dict[str, float]:
        """Called after each training episode (on-policy learners update here)."""
        ...

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
