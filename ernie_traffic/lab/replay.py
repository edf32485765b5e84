"""A fixed-size replay buffer of joint multi-agent transitions (numpy storage, torch batches)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ernie_traffic.algorithms.maddpg import Batch


class ReplayBuffer:
    """Ring buffer; agent ``i`` has its own observation and action arrays (sizes may differ)."""

    def __init__(self, obs_dims: list[int], act_dims: list[int], capacity: int):
        self.capacity = capacity
        self.obs = [np.zeros((capacity, d), np.float32) for d in obs_dims]
        self.next_obs = [np.zeros((capacity, d), np.float32) for d in obs_dims]
        self.actions = [np.zeros((capacity, d), np.float32) for d in act_dims]
        self.rewards = np.zeros((capacity, len(obs_dims)), np.float32)
        self.done = np.zeros(capacity, np.float32)
        self.size = 0
        self.cursor = 0

    def add(
        self,
        obs: list[np.ndarray],
        actions: list[np.ndarray],
        rewards: list[float],
        next_obs: list[np.ndarray],
        done: bool,
    ) -> None:
        k = self.cursor
        for i in range(len(obs)):
            self.obs[i][k], self.actions[i][k], self.next_obs[i][k] = obs[i], actions[i], next_obs[i]
        self.rewards[k], self.done[k] = rewards, float(done)
        self.cursor = (k + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        idx = rng.integers(0, self.size, size=batch_size)
        return Batch(
            obs=[torch.from_numpy(o[idx]) for o in self.obs],
            actions=[torch.from_numpy(a[idx]) for a in self.actions],
            rewards=torch.from_numpy(self.rewards[idx]),
            next_obs=[torch.from_numpy(o[idx]) for o in self.next_obs],
            done=torch.from_numpy(self.done[idx]),
        )

    def state_dict(self) -> dict[str, Any]:
        """The filled part as tensors (checkpoints hold tensors and plain data only)."""
        n = self.size  # the ring is full once size == capacity
        return {
            "obs": [torch.from_numpy(o[:n].copy()) for o in self.obs],
            "next_obs": [torch.from_numpy(o[:n].copy()) for o in self.next_obs],
            "actions": [torch.from_numpy(a[:n].copy()) for a in self.actions],
            "rewards": torch.from_numpy(self.rewards[:n].copy()),
            "done": torch.from_numpy(self.done[:n].copy()),
            "cursor": self.cursor,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        n = len(state["done"])
        for name in ("obs", "next_obs", "actions"):
            for mine, saved in zip(getattr(self, name), state[name], strict=True):
                mine[:n] = saved.numpy()
        self.rewards[:n], self.done[:n] = state["rewards"].numpy(), state["done"].numpy()
        self.size, self.cursor = n, state["cursor"]
