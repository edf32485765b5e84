"""Build the learner a run config names, for the env it runs on."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from pettingzoo import ParallelEnv
from torch import nn

from ernie_traffic.algorithms.maddpg import MADDPG, Batch
from ernie_traffic.algorithms.meanfield import MeanFieldConfig, MeanFieldMADDPG
from ernie_traffic.lab.config import LabRunConfig


class Learner(Protocol):
    """What the training loop and the evaluation need from a learner."""

    actors: list[nn.Module]

    def act(self, obs: list[np.ndarray], explore: bool, rng: np.random.Generator) -> list[np.ndarray]: ...
    def update(self, batch: Batch) -> dict[str, float]: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...


def env_dims(env: ParallelEnv) -> tuple[list[int], list[int]]:
    """Observation and action sizes of every agent, in ``env.possible_agents`` order."""
    agents = env.possible_agents
    obs = [int(env.observation_space(a).shape[0]) for a in agents]
    act = [int(env.action_space(a).shape[0]) for a in agents]
    return obs, act


def build_learner(config: LabRunConfig, env: ParallelEnv) -> Learner:
    obs_dims, act_dims = env_dims(env)
    algorithm = config.algorithm_config()
    if isinstance(algorithm, MeanFieldConfig):
        return MeanFieldMADDPG(obs_dims[0], act_dims[0], len(obs_dims), algorithm)
    return MADDPG(obs_dims, act_dims, algorithm)
