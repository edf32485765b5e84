"""Particle tasks by name, built from ``mpe2`` with continuous actions in [0, 1]^5 (or ^3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mpe2 import simple_adversary_v3, simple_speaker_listener_v4, simple_spread_v3, simple_tag_v3
from pettingzoo import ParallelEnv
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ernie_traffic.envs.particle.noise import ObservationNoise

#: Task name -> mpe2 ``parallel_env`` factory. Only cooperative navigation takes a number of agents.
PARTICLE_TASKS: dict[str, Callable[..., ParallelEnv]] = {
    "simple_spread": simple_spread_v3.parallel_env,  # cooperative navigation
    "simple_tag": simple_tag_v3.parallel_env,  # predator-prey
    "simple_adversary": simple_adversary_v3.parallel_env,  # physical deception
    "simple_speaker_listener": simple_speaker_listener_v4.parallel_env,  # cooperative communication
}

#: Many-agent cooperative navigation shows each agent only its nearest neighbours, so that the
#: observation (and the actor) has the same size for every N: 2 other agents, 3 landmarks.
MEAN_FIELD_NEIGHBORS = {"agents": 2, "landmarks": 3}


class ParticleEnvConfig(BaseModel):
    """Which particle task to build and how."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field("simple_spread", description="One of " + ", ".join(PARTICLE_TASKS) + ".")
    n_agents: int = Field(3, ge=2, le=100, description="Number of agents (simple_spread only).")
    max_cycles: int = Field(25, ge=1, description="Steps per episode.")
    nearest_neighbors: bool = Field(
        False,
        description="simple_spread only: observe the nearest 2 agents and 3 landmarks instead of all "
        "of them, so the observation size does not depend on n_agents (mean-field runs).",
    )
    observation_noise: float = Field(
        0.0, ge=0.0, description="Standard deviation of Gaussian noise added to every observation."
    )

    @model_validator(mode="after")
    def _known_task(self) -> ParticleEnvConfig:
        if self.task not in PARTICLE_TASKS:
            raise ValueError(
                f"unknown particle task {self.task!r}; choose one of {', '.join(PARTICLE_TASKS)}"
            )
        if self.task != "simple_spread" and (self.n_agents != 3 or self.nearest_neighbors):
            raise ValueError(f"n_agents and nearest_neighbors apply to simple_spread only, not {self.task}")
        if self.nearest_neighbors and self.n_agents < MEAN_FIELD_NEIGHBORS["landmarks"]:
            raise ValueError(f"nearest_neighbors needs n_agents >= {MEAN_FIELD_NEIGHBORS['landmarks']}")
        return self


def make_particle_env(config: ParticleEnvConfig, noise_seed: int | None = None) -> ParallelEnv:
    """Build the task as a PettingZoo parallel env with continuous actions (noise-wrapped if asked)."""
    kwargs: dict[str, Any] = {"continuous_actions": True, "max_cycles": config.max_cycles}
    if config.task == "simple_spread":
        kwargs["N"] = config.n_agents
        if config.nearest_neighbors:
            kwargs["num_agent_neighbors"] = MEAN_FIELD_NEIGHBORS["agents"]
            kwargs["num_landmark_neighbors"] = MEAN_FIELD_NEIGHBORS["landmarks"]
    env = PARTICLE_TASKS[config.task](**kwargs)
    if config.observation_noise > 0:
        env = ObservationNoise(env, sigma=config.observation_noise, seed=noise_seed)
    return env
