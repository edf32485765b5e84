"""The config of one particle, mean-field or drone training run (saved as ``config.yaml`` in its run dir)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ernie_traffic.envs.drones import DroneEnvConfig
from ernie_traffic.envs.particle import ParticleEnvConfig
from ernie_traffic.errors import UserInputError

if TYPE_CHECKING:  # the learners import torch; the CLI must not pay for it on every command
    from ernie_traffic.algorithms.maddpg import MADDPGConfig

PARTICLE_LEARNERS = ("maddpg", "m3ddpg", "ernie", "ernie-plain", "gaussian")
MEANFIELD_LEARNERS = ("baseline", "ernie")
#: Drone runs start from the particle presets with these changes (docs/lab.md): without the action
#: penalty the actors saturate at a velocity bound and fly away; the shorter horizon (0.5 s at 20 Hz)
#: and faster target networks let 200 short episodes learn to hover.
DRONE_ALGORITHM: dict[str, Any] = {"action_penalty": 1e-3, "gamma": 0.9, "tau": 0.05, "batch_size": 128}


class LabRunConfig(BaseModel):
    """One training run. ``algorithm`` defaults to the named ``learner``'s preset, written out in full."""

    model_config = ConfigDict(extra="forbid")

    family: Literal["particle", "meanfield", "drones"] = Field(
        "particle",
        description="particle: MADDPG and variants; meanfield: mean-field MADDPG / ERNIE; "
        "drones: MADDPG and variants on multi-drone hover (the drones extra).",
    )
    learner: str | None = Field(
        None,
        description="Default: the first of the family's learners. particle: "
        + ", ".join(PARTICLE_LEARNERS)
        + "; meanfield: "
        + ", ".join(MEANFIELD_LEARNERS)
        + "; drones: the particle learners.",
    )
    env: ParticleEnvConfig | DroneEnvConfig = Field(
        default_factory=ParticleEnvConfig, description="DroneEnvConfig fields for family drones."
    )
    algorithm: dict[str, Any] = Field(
        default_factory=dict, description="Learner hyperparameters; fields not given take the preset's value."
    )
    episodes: int = Field(2000, ge=1, description="Training episodes.")
    warmup_episodes: int = Field(
        20, ge=0, description="Episodes of uniformly random actions before learning."
    )
    updates_per_episode: int = Field(4, ge=0, description="Gradient steps after each episode.")
    buffer_size: int = Field(100_000, ge=1, description="Replay capacity in joint transitions.")
    seed: int = Field(0, description="Seeds torch, numpy and the environment's episodes.")
    checkpoint_every: int = Field(200, ge=1, description="Episodes between checkpoints.")

    @model_validator(mode="before")
    @classmethod
    def _env_of_family(cls, data: Any) -> Any:
        # Which env model an `env` mapping means follows from `family`, not from guessing by its fields.
        if (
            isinstance(data, dict)
            and data.get("family") == "drones"
            and isinstance(data.get("env", {}), dict)
        ):
            data = {**data, "env": DroneEnvConfig.model_validate(data.get("env", {}))}
        return data

    @model_validator(mode="after")
    def _learner_fits_family(self) -> LabRunConfig:
        if (self.family == "drones") != isinstance(self.env, DroneEnvConfig):
            raise ValueError(f"family {self.family} does not run on a {type(self.env).__name__}")
        names = MEANFIELD_LEARNERS if self.family == "meanfield" else PARTICLE_LEARNERS
        self.learner = self.learner or names[0]
        if self.learner not in names:
            raise ValueError(
                f"learner {self.learner!r} is not a {self.family} learner; choose one of {', '.join(names)}"
            )
        if self.family == "meanfield" and (
            self.env.task != "simple_spread" or not self.env.nearest_neighbors
        ):
            raise ValueError("meanfield runs need env.task simple_spread with env.nearest_neighbors true")
        # Validate now and store the complete hyperparameters, so config.yaml says exactly what ran.
        self.algorithm = self.algorithm_config().model_dump(mode="json")
        return self

    def algorithm_config(self) -> MADDPGConfig:
        from ernie_traffic.algorithms.maddpg import maddpg_variant
        from ernie_traffic.algorithms.meanfield import meanfield_variant

        if self.family == "drones":
            return maddpg_variant(self.learner, **{**DRONE_ALGORITHM, **self.algorithm})  # type: ignore[arg-type]
        if self.family == "particle":
            return maddpg_variant(self.learner, **self.algorithm)  # type: ignore[arg-type]
        return meanfield_variant(self.learner, **self.algorithm)


def changed_env(env: BaseModel, updates: dict[str, Any], where: str = "env") -> BaseModel:
    """``env`` with the fields ``updates`` names replaced, validated; an unknown field or a bad value is
    one error line (``where``: what gave the updates) that lists the env's fields."""
    fields = type(env).model_fields
    if unknown := [field for field in updates if field not in fields]:
        raise UserInputError(f"{where} {', '.join(unknown)}: unknown; env fields: {', '.join(fields)}")
    try:
        return type(env).model_validate({**env.model_dump(), **updates})
    except ValidationError as exc:
        message = exc.errors()[0]["msg"]
        raise UserInputError(f"{where} {updates}: {message} (env fields: {', '.join(fields)})") from exc
