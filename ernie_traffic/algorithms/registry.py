"""Learners by name: each paired with its config class and what it is built from."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from ernie_traffic.algorithms.base import Learner
from ernie_traffic.algorithms.coma import COMA, COMAConfig
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


def build_learner(
    name: str,
    spec: MultiAgentSpec,
    config: BaseModel,
    reg: RegularizerName,
    reg_settings: RegularizerSettings,
    seed: int,
) -> Learner:
    return get_algorithm(name).learner(spec, config, reg=reg, reg_settings=reg_settings, seed=seed)
