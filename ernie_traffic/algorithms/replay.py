"""Experience replay for off-policy learners of both families: a ring buffer of preallocated tensors."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Generic, TypeVar

import numpy as np
import torch

from ernie_traffic.algorithms.base import ContinuousTransition, Transition

Record = TypeVar("Record", Transition, ContinuousTransition)


class ReplayBuffer(Generic[Record]):
    """Stores records of ``record_type`` in ring-buffer tensors, one column per field (a per-agent
    list field gets one column per agent, ``name/i``: agents' sizes may differ; floating values are
    kept as float32). Its state (contents included) goes into checkpoints so that a resumed run
    samples exactly what an uninterrupted one would."""

    def __init__(self, record_type: type[Record], capacity: int) -> None:
        self.record_type, self.capacity = record_type, capacity
        self.storage: dict[str, torch.Tensor] = {}
        self.size = 0
        self.position = 0

    def add(self, record: Record) -> None:
        for name, value in _columns(record).items():
            if name not in self.storage:
                dtype = torch.float32 if value.is_floating_point() else value.dtype
                self.storage[name] = torch.zeros((self.capacity, *value.shape), dtype=dtype)
            self.storage[name][self.position] = value
        self.position = (self.position + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, generator: torch.Generator | np.random.Generator) -> Record:
        """``batch_size`` stored records drawn uniformly with replacement, as one batch record;
        drawn with the generator a learner's runs are seeded with (traffic: torch, lab: numpy)."""
        if isinstance(generator, np.random.Generator):
            index = torch.from_numpy(generator.integers(0, self.size, size=batch_size))
        else:
            index = torch.randint(self.size, (batch_size,), generator=generator)
        return _record(self.record_type, {name: values[index] for name, values in self.storage.items()})

    def state_dict(self) -> dict[str, Any]:
        used = {name: values[: self.size].clone() for name, values in self.storage.items()}
        return {"storage": used, "size": self.size, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.size, self.position = state["size"], state["position"]
        self.storage = {}
        for name, used in state["storage"].items():
            self.storage[name] = torch.zeros((self.capacity, *used.shape[1:]), dtype=used.dtype)
            self.storage[name][: self.size] = used


def _columns(record: Transition | ContinuousTransition) -> dict[str, torch.Tensor]:
    """A record's fields as named tensors, a list field as one tensor per element (``name/i``)."""
    columns = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if isinstance(value, list):
            columns |= {f"{f.name}/{i}": torch.as_tensor(v) for i, v in enumerate(value)}
        else:
            columns[f.name] = torch.as_tensor(value)
    return columns


def _record(record_type: type[Record], columns: dict[str, torch.Tensor]) -> Record:
    """Inverse of :func:`_columns`."""
    listed = {
        f.name: [v for name, v in columns.items() if name.startswith(f"{f.name}/")]
        for f in fields(record_type)
    }
    return record_type(**{name: columns.get(name, values) for name, values in listed.items()})
