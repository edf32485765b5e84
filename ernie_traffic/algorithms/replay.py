"""Experience replay for off-policy learners: a ring buffer of preallocated tensors."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import torch

from ernie_traffic.algorithms.base import Transition


class ReplayBuffer:
    """Stores :class:`Transition` fields in ring-buffer tensors; its state (contents included)
    goes into checkpoints so that a resumed run samples exactly what an uninterrupted one would."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.storage: dict[str, torch.Tensor] = {}
        self.size = 0
        self.position = 0

    def add(self, transition: Transition) -> None:
        for f in fields(Transition):
            value = torch.as_tensor(getattr(transition, f.name))
            if f.name not in self.storage:
                self.storage[f.name] = torch.zeros((self.capacity, *value.shape), dtype=value.dtype)
            self.storage[f.name][self.position] = value
        self.position = (self.position + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        index = torch.randint(self.size, (batch_size,), generator=generator)
        return {name: values[index] for name, values in self.storage.items()}

    def state_dict(self) -> dict[str, Any]:
        used = {name: values[: self.size].clone() for name, values in self.storage.items()}
        return {"storage": used, "size": self.size, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.size, self.position = state["size"], state["position"]
        self.storage = {}
        for name, used in state["storage"].items():
            self.storage[name] = torch.zeros((self.capacity, *used.shape[1:]), dtype=used.dtype)
            self.storage[name][: self.size] = used
