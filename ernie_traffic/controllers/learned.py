"""A trained policy as a :class:`~ernie_traffic.controllers.base.Controller`.

``load_controller(run_dir)`` rebuilds the decentralized network of a training run from its
``policy.pt`` (or, for a run still in progress, its latest checkpoint). ``policy_modules`` maps
each intersection to a torch module from its raw observation to its action scores — the modules
the ONNX export converts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ernie_traffic.envs.traffic.config import SENSING_FIELDS
from ernie_traffic.errors import UserInputError, first_line
from ernie_traffic.models.networks import AgentPolicy, MultiAgentSpec, SharedAgentNet, pad_observations
from ernie_traffic.runs import RunDirectory, load_torch, require_keys, save_torch

POLICY_FORMAT = 1
POLICY_KEYS = ("format", "algo", "network", "outputs", "spec", "hidden", "pad_value", "state_dict")


def policy_record(
    algo: str,
    network: str,
    outputs: str,
    net: SharedAgentNet,
    hidden: list[int],
    sensing: dict[str, float | None] | None = None,
) -> dict:
    """What ``policy.pt`` holds: enough to rebuild the network without the training code, and the
    environment settings it was trained with (``TrafficEnvConfig.sensing``; None: unchecked)."""
    return {
        "format": POLICY_FORMAT,
        "algo": algo,
        "network": network,
        "outputs": outputs,
        "spec": net.spec.to_dict(),
        "hidden": list(hidden),
        "pad_value": net.pad_value,
        "sensing": sensing,
        # copies: a record kept while training goes on (the best policy so far) must not follow the net
        "state_dict": {name: tensor.detach().clone() for name, tensor in net.state_dict().items()},
    }


def save_policy(run: RunDirectory, record: dict) -> Path:
    return save_torch(run.policy, record)


@dataclass
class LearnedController:
    """Greedy decisions of a trained per-intersection network (argmax of Q-values or logits)."""

    name: str
    algo: str
    network: str
    outputs: str  # "q_values" or "logits"
    net: SharedAgentNet
    sensing: dict[str, float | None] | None = None  # TrafficEnvConfig.sensing() of its training
    control: str = "agents"
    additional_files: tuple[str, ...] = ()
    _env: Any = field(default=None, repr=False)

    @property
    def spec(self) -> MultiAgentSpec:
        return self.net.spec

    @property
    def policy_modules(self) -> dict[str, AgentPolicy]:
        """Per intersection: raw observation ``[B, obs_dim]`` -> action scores ``[B, n_actions]``."""
        return {agent: AgentPolicy(self.net, agent).eval() for agent in self.spec.agents}

    @property
    def observation_spec(self) -> dict[str, dict[str, int]]:
        """Per intersection: observation length and number of actions (green phases)."""
        return {
            agent: {"obs_dim": dim, "n_actions": n}
            for agent, dim, n in zip(self.spec.agents, self.spec.obs_dims, self.spec.n_actions, strict=True)
        }

    def reset(self, env: Any) -> None:
        agents = tuple(env.possible_agents)
        if agents != self.spec.agents:
            raise UserInputError(
                f"policy {self.name!r} was trained on intersections {list(self.spec.agents)}, "
                f"the environment has {list(agents)}"
            )
        if self.sensing is not None:
            here = env.config.sensing()
            for name, trained in self.sensing.items():
                if here[name] != trained:
                    raise UserInputError(
                        f"policy {self.name!r} was trained with {name} {trained}, the environment "
                        f"has {here[name]}: set {name}: {trained} in the environment's config"
                    )
        for agent, dim in zip(agents, self.spec.obs_dims, strict=True):
            if env.observation_space(agent).shape[0] != dim:
                raise UserInputError(f"policy {self.name!r}: observation of {agent} has a different length")
        self._env = env

    def act(self, observations: dict[str, np.ndarray]) -> dict[str, int]:
        obs = pad_observations(self.spec, observations)
        mask = torch.as_tensor(np.asarray(self._env.action_mask), dtype=torch.bool)
        with torch.no_grad():
            scores = self.net.per_agent(obs[None])[0].masked_fill(~mask, float("-inf"))
        return {
            agent: int(scores[i].argmax())
            for i, agent in enumerate(self.spec.agents)
            if agent in observations
        }


def controller_from_record(record: dict, name: str) -> LearnedController:
    spec = MultiAgentSpec.from_dict(record["spec"])
    net = SharedAgentNet(spec, record["hidden"], pad_value=record["pad_value"])
    net.load_state_dict(record["state_dict"])
    net.eval()
    return LearnedController(
        name, record["algo"], record["network"], record["outputs"], net, sensing=record.get("sensing")
    )


def load_controller(run_dir: str | Path) -> LearnedController:
    run = RunDirectory(run_dir)
    if run.policy.is_file():
        source, record = run.policy, load_torch(run.policy)
    elif run.checkpoint.is_file():
        source, record = run.checkpoint, load_torch(run.checkpoint, required=("policy",))["policy"]
    else:
        raise UserInputError(f"{run.path}: no policy.pt or checkpoint.pt (not a training run directory?)")
    require_keys(source, record, POLICY_KEYS, what="policy")
    if record["format"] != POLICY_FORMAT:
        raise UserInputError(f"{source}: unsupported policy format {record['format']!r}")
    _check_sensing(source, record.get("sensing"))
    try:
        return controller_from_record(record, name=f"{record['algo']} ({run.path.name})")
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:  # a network of another shape or version
        raise UserInputError(f"{source}: policy does not build its network: {first_line(exc)}") from exc


def _check_sensing(source: Path, sensing: Any) -> None:
    """A policy file's ``sensing``: absent (recorded before it existed), or the settings of
    ``TrafficEnvConfig.sensing`` as numbers or None."""
    if sensing is None:
        return
    if (
        not isinstance(sensing, dict)
        or set(sensing) != set(SENSING_FIELDS)
        or not all(value is None or isinstance(value, int | float) for value in sensing.values())
    ):
        raise UserInputError(
            f"{source}: policy 'sensing' must map {', '.join(SENSING_FIELDS)} to numbers or null, "
            f"not {sensing!r:.80}"
        )
