"""The action a malicious intersection takes (the env's ``malicious_agents`` perturbation decides
when and which intersection; an adversary installed with ``env.set_adversary`` decides what).

- QCOMBO run directories: ERNIE-A's threat model. The run's checkpoint holds the trained global
  Q(s, a); the malicious intersection takes the valid green that minimises it, the other
  intersections' actions fixed (the core's greedy joint-action search, K = 1, restricted to
  that intersection). If no other green lowers Q, it keeps its own action.
- Learned controllers without a global Q (COMA runs, runs with no checkpoint, exported bundles):
  the valid green of lowest score in the controller's own outputs: its lowest local Q-value, or
  its least likely action for a policy (logits).
- Classical controllers: no adversary is installed; the env picks a uniformly random green.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# (agent, observations, requested joint action) -> the malicious agent's action
Adversary = Callable[[str, dict[str, np.ndarray], dict[str, int]], int]
ScoreFn = Callable[[str, np.ndarray], np.ndarray]  # (agent, observation) -> scores of its greens


def load_global_q(run_dir: str | Path) -> Any | None:
    """The global Q-network of a QCOMBO run's checkpoint (read only, eval mode), or None when the
    run has no checkpoint or its learner has no global Q (COMA)."""
    from ernie_traffic.models.networks import GlobalQ, MultiAgentSpec
    from ernie_traffic.runs import RunDirectory, load_torch

    run = RunDirectory(run_dir)
    if not run.checkpoint.is_file():
        return None
    checkpoint = load_torch(run.checkpoint, required=("learner", "policy"))
    weights = checkpoint["learner"].get("global_q") if isinstance(checkpoint["learner"], dict) else None
    if weights is None:
        return None
    policy = checkpoint["policy"]
    global_q = GlobalQ(MultiAgentSpec.from_dict(policy["spec"]), policy["hidden"])
    global_q.load_state_dict(weights)
    return global_q.eval().requires_grad_(False)


def global_q_adversary(global_q: Any, agents: tuple[str, ...], env: Any) -> Adversary:
    """The malicious agent's valid green minimising ``global_q(env.state(), joint action)``."""
    import torch

    from ernie_traffic.core.joint_action import greedy_joint_action_search

    def adversary(agent: str, observations: dict[str, np.ndarray], actions: dict[str, int]) -> int:
        index = agents.index(agent)
        only_this_agent = torch.zeros(np.shape(env.action_mask), dtype=torch.bool)
        only_this_agent[index] = torch.as_tensor(np.asarray(env.action_mask)[index])
        search = greedy_joint_action_search(
            global_q,
            torch.as_tensor(env.state(), dtype=torch.float32)[None],
            torch.tensor([[actions[a] for a in agents]]),
            max_changed=1,
            action_mask=only_this_agent,
            objective="decrease",
        )
        if float(search.score[0]) <= 0:  # the search always moves; staying put is lower
            return actions[agent]
        return int(search.actions[0, index])

    return adversary


def lowest_score_adversary(scores: ScoreFn, agents: tuple[str, ...], env: Any) -> Adversary:
    """The malicious agent's valid green of lowest score in the controller's own outputs."""

    def adversary(agent: str, observations: dict[str, np.ndarray], actions: dict[str, int]) -> int:
        valid = np.asarray(env.action_mask)[agents.index(agent)]
        values = np.asarray(scores(agent, observations[agent]))[: len(valid)]
        return int(np.argmin(np.where(valid[: len(values)], values, np.inf)))

    return adversary


class WithAdversary:
    """A controller whose episodes run with ``make_adversary(env)`` choosing malicious actions."""

    def __init__(self, inner: Any, make_adversary: Callable[[Any], Adversary]) -> None:
        self.inner = inner
        self.name = inner.name
        self.control = inner.control
        self.additional_files = inner.additional_files
        self.make_adversary = make_adversary

    def reset(self, env: Any) -> None:
        self.inner.reset(env)
        env.set_adversary(self.make_adversary(env))

    def act(self, observations: dict[str, np.ndarray]) -> dict[str, int]:
        return self.inner.act(observations)
