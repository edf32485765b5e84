"""Small MLPs for the particle and mean-field learners: deterministic actors and Q critics."""

from __future__ import annotations

import torch
from torch import nn

from ernie_traffic.models.networks import MLP


class DeterministicActor(nn.Module):
    """Observation -> action in [0, 1]^act_dim (the range of mpe2's continuous actions)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 64):
        super().__init__()
        self.net = MLP(obs_dim, [hidden, hidden], act_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(obs))

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        """The action before the sigmoid (what the MADDPG ``action_penalty`` keeps small)."""
        return self.net(obs)


class QCritic(nn.Module):
    """Concatenated inputs -> one Q-value per row (shape ``[batch]``)."""

    def __init__(self, in_dim: int, hidden: int = 64):
        super().__init__()
        self.net = MLP(in_dim, [hidden, hidden], 1)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat(inputs, dim=-1)).squeeze(-1)
