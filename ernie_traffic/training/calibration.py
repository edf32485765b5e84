"""ERNIE's radius fitted to a network's detectors (``regularizer.epsilon_readings``).

One fixed radius does not suit every network: an intersection of grid4x4 (sparse demand) reports
detector readings of ℓ2 norm about 0.10 under good control, one of grid2x2 about 0.31, and a ball of
radius 0.05 is half of the former: the regularizer then flattens the Q-function exactly where the
policy must tell light traffic apart, and ERNIE-QCOMBO does not learn there (docs/benchmarks.md). The
radius is therefore also bounded by a fraction of the network's typical readings, measured here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ernie_traffic.algorithms.regularization import OBSERVATION_BALL
from ernie_traffic.controllers.classical import MaxPressureController
from ernie_traffic.envs.traffic import TrafficEnvConfig
from ernie_traffic.errors import UserInputError
from ernie_traffic.evaluation import run_episode, validation_seeds
from ernie_traffic.training.config import TrainConfig
from ernie_traffic.utils.config_files import load_config


@dataclass
class _ReadingRecorder(MaxPressureController):
    """Max-pressure control that also records the ℓ2 norm of each intersection's detector readings
    (its observation's sensor features) at every decision."""

    norms: list[float] = field(default_factory=list)

    def act(self, observations: dict[str, np.ndarray]) -> dict[str, int]:
        layouts = self._env.layouts
        self.norms += [float(np.linalg.norm(o[layouts[a].detector_slice])) for a, o in observations.items()]
        return super().act(observations)


def mean_reading_norm(env_config: TrafficEnvConfig) -> float:
    """Mean ℓ2 norm of an intersection's detector readings over one episode of max-pressure control
    on the first validation seed: what the detectors report when the network is run well. The same
    for every training seed of a network; uses no random state but SUMO's own."""
    recorder = _ReadingRecorder()
    run_episode(recorder, env_config, validation_seeds(1)[0])
    return float(np.mean(recorder.norms))


def with_network_radius(config: TrainConfig, resumed: Path | None = None) -> TrainConfig:
    """``config`` with ERNIE's radius resolved for its network: ``epsilon_readings`` applied and set
    to None, so the run's config.yaml states the radius the run used. ``resumed``: the config.yaml of
    the run being resumed, whose radius is taken as it is (nothing measured again; a file written
    before ``epsilon_readings`` existed trained with its ``epsilon``), so the run continues exactly."""
    settings = config.regularizer
    if config.reg not in OBSERVATION_BALL or settings.epsilon_readings is None:
        return config
    if resumed is not None:
        trained = load_config(TrainConfig, resumed).regularizer
        if trained.epsilon_readings is None or "epsilon_readings" not in trained.model_fields_set:
            return _with_radius(config, trained.epsilon)
    reading_norm = mean_reading_norm(config.env)
    if reading_norm == 0:
        raise UserInputError(
            f"{config.env.network}: no vehicle reached a detector in an episode of max-pressure control, "
            "so ERNIE's radius cannot be fitted to the readings; set regularizer.epsilon_readings: null"
        )
    return _with_radius(config, settings.observation_epsilon(reading_norm))


def _with_radius(config: TrainConfig, epsilon: float) -> TrainConfig:
    regularizer = config.regularizer.model_copy(update={"epsilon": epsilon, "epsilon_readings": None})
    return config.model_copy(update={"regularizer": regularizer})
