"""The environment a lab run config names: a particle task or the multi-drone hover task."""

from __future__ import annotations

from pettingzoo import ParallelEnv

from ernie_traffic.envs.drones import DroneEnvConfig, make_drone_env
from ernie_traffic.envs.particle import ParticleEnvConfig, make_particle_env

LabEnvConfig = ParticleEnvConfig | DroneEnvConfig


def make_lab_env(config: LabEnvConfig, noise_seed: int | None = None) -> ParallelEnv:
    """Build the env of ``config`` (drones need the ``drones`` extra; particle tasks need nothing more)."""
    if isinstance(config, DroneEnvConfig):
        return make_drone_env(config, noise_seed=noise_seed)
    return make_particle_env(config, noise_seed=noise_seed)


def env_dims(env: ParallelEnv) -> tuple[list[int], list[int]]:
    """Observation and action sizes of every agent, in ``env.possible_agents`` order."""
    agents = env.possible_agents
    obs = [int(env.observation_space(a).shape[0]) for a in agents]
    act = [int(env.action_space(a).shape[0]) for a in agents]
    return obs, act


def agent_dims(config: LabEnvConfig) -> tuple[list[int], list[int]]:
    """:func:`env_dims` of the env ``config`` names, built for the question and closed."""
    env = make_lab_env(config)
    try:
        return env_dims(env)
    finally:
        env.close()
