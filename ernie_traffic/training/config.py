"""The typed config of a training run, loadable from YAML/TOML and overridable by CLI flags."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ernie_traffic.algorithms.coma import COMAConfig
from ernie_traffic.algorithms.qcombo import QCOMBOConfig
from ernie_traffic.algorithms.regularization import RegularizerName, RegularizerSettings
from ernie_traffic.controllers.classical import ClassicalName
from ernie_traffic.envs.traffic import PERTURBATIONS, PerturbationConfig, TrafficEnvConfig

# ERNIE-A regularizes QCOMBO's global Q, which moves the local policies only through the consistency
# loss: its runs keep the paper's weight unless the config sets one.
ERNIE_A_CONSISTENCY_WEIGHT = 1.7

# ``train --domain-randomization``: slower traffic, more demand and sensor noise, each up to half
# of its strongest setting (speed factor 1 → 0.75, demand scale 1 → 1.5, noise sigma 0 → 0.1).
DEFAULT_DOMAIN_RANDOMIZATION: dict[str, tuple[float, float]] = {
    "speed_factor": (0.0, 0.5),
    "demand_scale": (0.0, 0.5),
    "observation_noise": (0.0, 0.5),
}


class TrainConfig(BaseModel):
    """Everything that defines a training run; saved as ``config.yaml`` in its run directory.

    Only the section of the chosen ``algo`` (``qcombo`` or ``coma``) is used.
    """

    model_config = ConfigDict(extra="forbid")

    env: TrafficEnvConfig = Field(default_factory=TrafficEnvConfig, description="traffic environment")
    algo: Literal["qcombo", "coma"] = Field("qcombo", description="learner")
    reg: RegularizerName = Field("ernie", description="regularizer: none, ernie, ernie-a or gaussian")
    regularizer: RegularizerSettings = Field(default_factory=RegularizerSettings)
    qcombo: QCOMBOConfig = Field(default_factory=QCOMBOConfig)
    coma: COMAConfig = Field(default_factory=COMAConfig)
    episodes: int = Field(15, ge=1, description="training episodes")
    reward_scale: float = Field(
        0.05, gt=0, description="factor on the rewards the learner sees (logged returns stay unscaled)"
    )
    seed: int = Field(0, ge=0, description="seed of networks, exploration and simulations")
    domain_randomization: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="perturbation name -> [low, high] severity range: every training episode draws "
        "each level uniformly from its range (domain randomization; evaluation stays nominal)",
    )
    domain_randomization_ramp: int = Field(
        0,
        ge=0,
        description="curriculum: each range widens from its low end to its full width over this many "
        "episodes, so the first, exploring episodes run near the low end (0: full ranges from the start)",
    )
    checkpoint_every: int = Field(1, ge=1, description="episodes between checkpoints")
    rollout_workers: int = Field(
        1,
        ge=1,
        description="worker processes playing the exploring episodes, a round of one episode each at a "
        "time, acting with the policy of the round's start (qcombo only; 1: the learner plays each "
        "episode itself; with more, checkpoints fall at round ends)",
    )
    eval_episodes: int = Field(2, ge=0, description="evaluation episodes after training (0: none)")
    validation_episodes: int = Field(
        1,
        ge=0,
        description="greedy episodes on validation seeds after each training episode; the policy with the "
        "lowest validation delay becomes policy.pt (0: the last policy)",
    )
    patience: int | None = Field(
        None, ge=1, description="stop after this many validations without a better policy (None: never)"
    )
    baselines: list[ClassicalName] = Field(
        ["actuated", "max-pressure", "webster", "fixed-time"],
        description="classical controllers evaluated beside the learner",
    )
    out_dir: Path = Field(Path("runs"), description="folder holding the run directories")
    name: str | None = Field(None, description="run directory name; default: network-algo-reg-seedN")

    @field_validator("domain_randomization")
    @classmethod
    def _known_ranges(cls, ranges: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for name, (low, high) in ranges.items():
            if name not in PERTURBATIONS:
                raise ValueError(f"unknown perturbation {name!r}; known: {', '.join(PERTURBATIONS)}")
            if not 0.0 <= low <= high <= 1.0:
                raise ValueError(f"{name}: range [{low}, {high}] is not within [0, 1] with low <= high")
        return ranges

    @model_validator(mode="after")
    def _ernie_a_reaches_the_policy(self) -> TrainConfig:
        if self.algo != "qcombo" or self.reg != "ernie-a":
            return self
        if "consistency_weight" not in self.qcombo.model_fields_set:
            self.qcombo = self.qcombo.model_copy(update={"consistency_weight": ERNIE_A_CONSISTENCY_WEIGHT})
            self.qcombo.model_fields_set.add("consistency_weight")
        elif self.qcombo.consistency_weight == 0:
            raise ValueError(
                "reg ernie-a needs qcombo.consistency_weight > 0: the regularized global Q "
                "reaches the local policies only through the consistency loss"
            )
        return self

    @property
    def algo_config(self) -> QCOMBOConfig | COMAConfig:
        return self.qcombo if self.algo == "qcombo" else self.coma

    def run_family(self) -> str:
        """Name shared by the seeds of this run (their parent folder with ``--seeds``)."""
        network = Path(self.env.network).name.removesuffix(".net.xml")
        randomized = "-dr" if self.domain_randomization else ""
        return self.name or f"{network}-{self.algo}-{self.reg}{randomized}"

    def run_name(self) -> str:
        return self.name or f"{self.run_family()}-seed{self.seed}"

    def training_seed(self, episode: int) -> int:
        """SUMO seed of a training episode (below the evaluation seeds for any realistic run)."""
        return self.seed * 100_000 + episode

    def exploration_seed(self, episode: int) -> int:
        """Seed of the exploration draws of training episode ``episode`` when a rollout worker plays
        it (a function of the run seed and the episode: the worker that plays it does not matter)."""
        return int(np.random.SeedSequence([self.seed, episode]).generate_state(1)[0])

    def domain_levels(self, episode: int) -> dict[str, float]:
        """The perturbation levels of training episode ``episode`` under domain randomization: each
        drawn from its own generator seeded by (run seed, episode, perturbation name), so a run and
        its resume draw the same levels and adding a range leaves the others' draws unchanged. Under
        ``domain_randomization_ramp`` the range of episode e is [low, low + (high - low)·min(1, e/ramp)]."""
        width = min(1.0, episode / self.domain_randomization_ramp) if self.domain_randomization_ramp else 1.0
        return {
            name: float(
                np.random.default_rng([self.seed, episode, zlib.crc32(name.encode())]).uniform(
                    low, low + (high - low) * width
                )
            )
            for name, (low, high) in self.domain_randomization.items()
        }

    def training_env(self, episode: int) -> TrafficEnvConfig:
        """The environment of training episode ``episode``: ``env`` driven by the agents, with the
        episode's domain-randomized perturbations after ``env``'s own."""
        drawn = [
            PerturbationConfig(name=name, level=level) for name, level in self.domain_levels(episode).items()
        ]
        return self.env.model_copy(
            update={"control": "agents", "perturbations": [*self.env.perturbations, *drawn]}
        )


def trained_env(controllers: list[str]) -> TrafficEnvConfig:
    """The environment the first learned controller among ``controllers`` was trained in (its run's
    config, or the run config its bundle was exported with); the default one if all are classical."""
    from ernie_traffic.controllers.resolve import is_learned, load_learned
    from ernie_traffic.runs import RunDirectory
    from ernie_traffic.utils.config_files import build_config, load_config

    learned = next((argument for argument in controllers if is_learned(argument)), None)
    if learned is None:
        return TrafficEnvConfig()
    bundle = getattr(load_learned(learned), "bundle", None)  # loading checks the argument
    if bundle is None:
        return load_config(TrainConfig, RunDirectory(learned).config).env
    return build_config(TrainConfig, dict(bundle.training.get("config", {})), f"{learned}: manifest").env
