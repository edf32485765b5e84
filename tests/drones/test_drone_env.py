"""The multi-drone hover env (PyFlyt on pybullet): PettingZoo API, and perturbations that change physics.

Runs only where the ``drones`` extra is installed (CI: ``.ci/drones``, its own virtual environment).
"""

import numpy as np
import pytest

pytest.importorskip("PyFlyt")

from pettingzoo.test import parallel_api_test

from ernie_traffic.envs.drones import DroneEnvConfig, make_drone_env
from ernie_traffic.lab.config import LabRunConfig

HOVERISH = np.array([0.5, 0.5, 0.5, 0.55], np.float32)  # zero body rates, a bit over half thrust


def fly(steps: int, **perturbation) -> dict[str, np.ndarray]:
    """Every drone's position relative to its hover point after ``steps`` identical actions from the
    same seeded start.

    Body-rate control, so that no PID stands between the perturbed physics and the positions.
    """
    config = DroneEnvConfig(n_drones=2, flight_mode="rates", start_offset=0.0, **perturbation)
    env = make_drone_env(config)
    observations, _ = env.reset(seed=3)
    for _ in range(steps):
        observations, *_ = env.step(dict.fromkeys(env.agents, HOVERISH))
    env.close()
    return {agent: -obs[9:12] for agent, obs in observations.items()}  # obs 9:12: hover point - position


@pytest.mark.parametrize("config", [{}, {"observation_noise": 0.1, "mass_scale": 1.3, "wind_speed": 3.0}])
def test_env_passes_the_pettingzoo_parallel_api_test(config):
    parallel_api_test(make_drone_env(DroneEnvConfig(**config), noise_seed=0), num_cycles=60)


@pytest.mark.parametrize(("flight_mode", "action_size"), [("velocity", 3), ("rates", 4)])
def test_actions_are_normalised_and_observations_float32(flight_mode, action_size):
    env = make_drone_env(DroneEnvConfig(n_drones=3, flight_mode=flight_mode))
    observations, _ = env.reset(seed=0)
    assert env.possible_agents == ["uav_0", "uav_1", "uav_2"]
    space = env.action_space("uav_0")
    assert (space.low == 0).all() and (space.high == 1).all() and space.shape == (action_size,)
    assert all(obs.dtype == np.float32 and obs.shape == (12,) for obs in observations.values())
    env.close()


def test_drones_start_off_their_hover_points_by_a_seeded_offset():
    env = make_drone_env(DroneEnvConfig(n_drones=2, start_offset=0.4))
    first, _ = env.reset(seed=5)
    for obs in first.values():
        offset = -obs[9:12]
        assert np.abs(offset).max() <= 0.45 and np.linalg.norm(offset) > 0.05, offset
    _, rewards, *_ = env.step(dict.fromkeys(env.agents, np.full(3, 0.5, np.float32)))
    for agent, obs in first.items():  # PyFlyt's reward measures from the hover point, not the spawn point
        assert rewards[agent] == pytest.approx(1 - np.linalg.norm(obs[9:12]), abs=0.05)
    again, _ = env.reset(seed=5)
    other, _ = env.reset(seed=6)
    np.testing.assert_array_equal(again["uav_0"], first["uav_0"])
    assert np.linalg.norm(other["uav_0"][9:12] - first["uav_0"][9:12]) > 0.01
    env.close()


def test_wind_pushes_drones_sideways_and_its_direction_is_seeded():
    calm = fly(15)
    windy = fly(15, wind_speed=5.0)
    drift = [np.linalg.norm(windy[a][:2] - calm[a][:2]) for a in calm]
    assert min(drift) > 0.05, drift
    assert all(np.allclose(fly(15, wind_speed=5.0)[a], windy[a]) for a in calm)  # same seed, same wind


def test_observation_noise_is_seeded_and_leaves_physics_alone():
    clean = make_drone_env(DroneEnvConfig())
    noisy = make_drone_env(DroneEnvConfig(observation_noise=0.5), noise_seed=0)
    clean_obs, _ = clean.reset(seed=1)
    noisy_obs, _ = noisy.reset(seed=1)
    difference = noisy_obs["uav_0"] - clean_obs["uav_0"]
    assert 0.2 < difference.std() < 1.0
    again = make_drone_env(DroneEnvConfig(observation_noise=0.5), noise_seed=0)
    np.testing.assert_array_equal(again.reset(seed=1)[0]["uav_0"], noisy_obs["uav_0"])


def test_velocity_mode_holds_position_under_a_zero_command():
    env = make_drone_env(DroneEnvConfig(flight_mode="velocity", start_offset=0.0))
    start, _ = env.reset(seed=0)
    for _ in range(20):
        observations, rewards, *_ = env.step(dict.fromkeys(env.agents, np.full(3, 0.5, np.float32)))
    assert env.agents  # nobody crashed
    for agent, obs in observations.items():
        assert np.linalg.norm(obs[9:12] - start[agent][9:12]) < 0.2
        assert rewards[agent] > 0.8


def test_config_rejects_an_agent_rate_that_does_not_divide_the_physics_rate():
    with pytest.raises(ValueError, match="agent_hz must divide 120"):
        DroneEnvConfig(agent_hz=50)


def test_run_config_builds_drone_env_for_family_drones_only():
    assert isinstance(LabRunConfig(family="drones", env={"n_drones": 3}).env, DroneEnvConfig)
    with pytest.raises(ValueError, match="family particle does not run on a DroneEnvConfig"):
        LabRunConfig(family="particle", env=DroneEnvConfig())
    with pytest.raises(ValueError):  # a particle field is not a drone field
        LabRunConfig(family="drones", env={"n_agents": 3})
