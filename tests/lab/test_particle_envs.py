"""The particle wrappers: PettingZoo's own API checks, fixed observation size for mean-field, noise."""

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from ernie_traffic.envs.particle import PARTICLE_TASKS, ParticleEnvConfig, make_particle_env


@pytest.mark.parametrize("task", sorted(PARTICLE_TASKS))
def test_every_task_passes_the_parallel_api_test(task):
    env = make_particle_env(ParticleEnvConfig(task=task))
    parallel_api_test(env, num_cycles=30)
    assert all(np.all(env.action_space(a).high == 1.0) for a in env.possible_agents)  # continuous actions


def test_noisy_many_agent_navigation_passes_the_parallel_api_test():
    config = ParticleEnvConfig(n_agents=6, nearest_neighbors=True, observation_noise=0.1)
    parallel_api_test(make_particle_env(config, noise_seed=0), num_cycles=30)


def test_nearest_neighbour_observation_size_does_not_depend_on_n():
    sizes = set()
    for n in (3, 6, 10, 20):
        env = make_particle_env(ParticleEnvConfig(n_agents=n, nearest_neighbors=True))
        sizes |= {env.observation_space(a).shape for a in env.possible_agents}
    assert sizes == {(18,)}


def _rollout(config: ParticleEnvConfig, seed: int):
    env = make_particle_env(config, noise_seed=seed)
    obs, _ = env.reset(seed=seed)
    observations, rewards = [obs], []
    action = np.full(5, 0.5, np.float32)
    action[1] = 1.0
    while env.agents:
        obs, reward, _, _, _ = env.step({a: action for a in env.agents})
        observations.append(obs)
        rewards.append(reward)
    return observations, rewards


def test_observation_noise_changes_observations_not_the_simulation():
    clean_obs, clean_rewards = _rollout(ParticleEnvConfig(max_cycles=10), seed=3)
    noisy_obs, noisy_rewards = _rollout(ParticleEnvConfig(max_cycles=10, observation_noise=0.2), seed=3)
    assert clean_rewards == noisy_rewards
    diffs = np.concatenate(
        [noisy[a] - clean[a] for noisy, clean in zip(noisy_obs, clean_obs, strict=True) for a in clean]
    )
    assert 0.15 < diffs.std() < 0.25
    again_obs, _ = _rollout(ParticleEnvConfig(max_cycles=10, observation_noise=0.2), seed=3)
    assert all(
        np.array_equal(x[a], y[a]) for x, y in zip(noisy_obs, again_obs, strict=True) for a in x
    )  # seeded


@pytest.mark.parametrize(
    "fields",
    [
        {"task": "simple_chess"},
        {"task": "simple_tag", "n_agents": 5},
        {"n_agents": 2, "nearest_neighbors": True},
    ],
)
def test_bad_env_configs_are_rejected(fields):
    with pytest.raises(ValueError):
        ParticleEnvConfig(**fields)
