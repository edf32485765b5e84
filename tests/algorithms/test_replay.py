"""The replay buffer both learner families share: per-agent columns of different sizes, float32
storage, checkpoints (and the lab's checkpoints written before the buffer was shared)."""

import numpy as np
import torch

from ernie_traffic.algorithms import ContinuousTransition
from ernie_traffic.algorithms.replay import ReplayBuffer
from ernie_traffic.lab.train import replay_state


def _lab_buffer(steps: int) -> ReplayBuffer:
    rng = np.random.default_rng(0)
    buffer = ReplayBuffer(ContinuousTransition, capacity=8)
    for step in range(steps):
        obs = [rng.normal(size=d) for d in (4, 6)]  # float64, as some environments give them
        actions = [rng.uniform(size=2).astype(np.float32), rng.uniform(size=3).astype(np.float32)]
        buffer.add(ContinuousTransition(obs, actions, rng.normal(size=2), obs, float(step == steps - 1)))
    return buffer


def test_agents_of_different_sizes_come_back_as_float32_per_agent_batches():
    batch = _lab_buffer(11).sample(5, np.random.default_rng(1))  # 11 steps: the ring wrapped
    assert [o.shape for o in batch.obs] == [(5, 4), (5, 6)]
    assert [a.shape for a in batch.actions] == [(5, 2), (5, 3)]
    assert batch.rewards.shape == (5, 2) and batch.done.shape == (5,)
    assert all(t.dtype == torch.float32 for t in [*batch.obs, *batch.actions, batch.rewards, batch.done])


def test_a_checkpoint_from_before_the_shared_buffer_samples_what_it_held():
    buffer = _lab_buffer(5)
    columns = buffer.state_dict()["storage"]
    old = {name: [columns[f"{name}/{i}"] for i in range(2)] for name in ("obs", "actions", "next_obs")}
    old |= {"rewards": columns["rewards"], "done": columns["done"], "cursor": buffer.position}
    restored = ReplayBuffer(ContinuousTransition, capacity=8)
    restored.load_state_dict(replay_state(old))
    assert (restored.size, restored.position) == (buffer.size, buffer.position)
    a, b = buffer.sample(16, np.random.default_rng(2)), restored.sample(16, np.random.default_rng(2))
    fields_a, fields_b = [*a.obs, *a.actions, a.rewards, a.done], [*b.obs, *b.actions, b.rewards, b.done]
    assert all(torch.equal(x, y) for x, y in zip(fields_a, fields_b, strict=True))
