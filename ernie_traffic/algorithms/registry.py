"""The learners of both families and how each is built: traffic learners by name, each paired with
its config class; lab learners from their config."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from ernie_traffic.algorithms.base import ContinuousLearner, DiscreteLearner
from ernie_traffic.algorithms.coma import COMA, COMAConfig
from ernie_traffic.algorithms.maddpg import MADDPG, MADDPGConfig
from ernie_traffic.algorithms.meanfield import MeanFieldConfig, MeanFieldMADDPG
from ernie_traffic.algorithms.qcombo import QCOMBO, QCOMBOConfig, QCOMBOExplorer
from ernie_traffic.algorithms.regularization import RegularizerName, RegularizerSettings
from ernie_traffic.errors import UserInputError
from ernie_traffic.models.networks import MultiAgentSpec


@dataclass(frozen=True)
class Algorithm:
    """A learner class, its config class, the kind of its decentralized outputs and, for an
    off-policy learner, the exploring policy rollout workers act with (None: the learner must
    collect its own episodes, acting with its current policy)."""

    learner: type
    config: type[BaseModel]
    outputs: str  # "q_values" (act greedily) or "logits" (a stochastic policy)
    explorer: type | None = None


ALGORITHMS: dict[str, Algorithm] = {
    "qcombo": Algorithm(QCOMBO, QCOMBOConfig, outputs="q_values", explorer=QCOMBOExplorer),
    "coma": Algorithm(COMA, COMAConfig, outputs="logits"),
}


def get_algorithm(name: str) -> Algorithm:
    if name not in ALGORITHMS:
        raise UserInputError(f"unknown algorithm {name!r}; known: {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]


def build_discrete_learner(
    name: str,
    spec: MultiAgentSpec,
    config: BaseModel,
    reg: RegularizerName,
    reg_settings: RegularizerSettings,
    seed: int,
) -> DiscreteLearner:
    return get_algorithm(name).learner(spec, config, reg=reg, reg_settings=reg_settings, seed=seed)


def build_continuous_learner(
    config: MADDPGConfig, obs_dims: list[int], act_dims: list[int]
) -> ContinuousLearner:
    """MADDPG for agents of these observation and action sizes; the mean-field learner (its agents
    are alike: the first agent's sizes) for a :class:`MeanFieldConfig`."""
    if isinstance(config, MeanFieldConfig):
        return MeanFieldMADDPG(obs_dims[0], act_dims[0], len(obs_dims), config)
    return MADDPG(obs_dims, act_dims, config)
