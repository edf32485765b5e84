"""Small MLPs for the particle and mean-field learners: deterministic actors and Q critics."""

from __future__ import annotations

import torch
from torch import nn


def mlp(in_dim: int, out_dim: int, hidden: int, layers: int = 2) -> nn.Sequential:
    """``layers`` hidden ReLU layers of width ``hidden``, then a linear output."""
    modules: list[nn.Module] = []
    width = in_dim
    for _ in range(layers):
        modules += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    modules.append(nn.Linear(width, out_dim))
    return nn.Sequential(*modules)


class DeterministicActor(nn.Module):
    """Observation -> action in [0, 1]^act_dim (the range of mpe2's continuous actions)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 64):
        super().__init__()
        self.net = mlp(obs_dim, act_dim, hidden)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(obs))


class QCritic(nn.Module):
    """Concatenated inputs -> one Q-value per row (shape ``[batch]``)."""

    def __init__(self, in_dim: int, hidden: int = 64):
        super().__init__()
        self.net = mlp(in_dim, 1, hidden)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat(inputs, dim=-1)).squeeze(-1)
