"""Each perturbation changes what it should, and only that, on the real 2×2 grid."""

from __future__ import annotations

import libsumo
import numpy as np
import pytest

from ernie_traffic.envs.traffic import PERTURBATIONS, PerturbationConfig, TrafficEnvConfig, TrafficSignalEnv
from ernie_traffic.errors import UserInputError


def episode(*perturbations: PerturbationConfig, control: str = "agents", seconds: float = 600, seed: int = 0):
    """Run one episode with a fixed action schedule; return (observations per step, infos, metrics)."""
    env = TrafficSignalEnv(
        TrafficEnvConfig(
            network="grid2x2", episode_seconds=seconds, control=control, perturbations=list(perturbations)
        )
    )
    observations, infos = [], []
    obs, _ = env.reset(seed=seed)
    observations.append(obs)
    step = 0
    while env.agents:
        obs, _, _, _, info = env.step({a: (step // 4) % 2 for a in env.agents})
        observations.append(obs)
        infos.append(info)
        step += 1
    metrics = env.episode_metrics()
    env.close()
    return observations, infos, metrics, env


def stacked(observations: list[dict[str, np.ndarray]]) -> np.ndarray:
    return np.stack([np.concatenate(list(obs.values())) for obs in observations])


def test_half_speed_lengthens_travel_time():
    _, _, normal, _ = episode(control="fixed_time")
    _, _, slow, _ = episode(
        PerturbationConfig(name="speed_factor", params={"factor": 0.5}), control="fixed_time"
    )
    assert slow["mean_travel_time"] > 1.3 * normal["mean_travel_time"]


def test_sensor_noise_changes_observations_but_not_the_simulation():
    clean_obs, _, clean, _ = episode()
    noisy_obs, _, noisy, _ = episode(PerturbationConfig(name="observation_noise", params={"sigma": 0.1}))
    assert noisy == clean
    difference = stacked(noisy_obs) - stacked(clean_obs)
    assert 0.02 < np.abs(difference).mean() < 0.1


def test_perturbed_episodes_are_reproducible_and_seeded():
    noise = PerturbationConfig(name="observation_noise", level=0.5)
    first, _, _, _ = episode(noise, seconds=100)
    again, _, _, _ = episode(noise, seconds=100)
    other, _, _, _ = episode(noise, seconds=100, seed=1)
    assert np.array_equal(stacked(first), stacked(again))
    assert not np.array_equal(stacked(first), stacked(other))


def test_demand_scale_doubles_the_vehicles():
    _, _, normal, _ = episode(control="fixed_time", seconds=300)
    _, _, double, _ = episode(
        PerturbationConfig(name="demand_scale", level=1.0), control="fixed_time", seconds=300
    )
    loaded = lambda m: m["throughput"] + m["unfinished"]  # noqa: E731
    assert 1.8 < loaded(double) / loaded(normal) < 2.2


def test_lane_closure_closes_or_slows_lanes_and_costs_time():
    _, _, normal, _ = episode(control="fixed_time")
    closure = PerturbationConfig(name="lane_closure", level=1.0)
    env = TrafficSignalEnv(TrafficEnvConfig(network="grid2x2", episode_seconds=600, control="fixed_time",
                                            perturbations=[closure]))  # fmt: skip
    env.reset(seed=0)
    perturbation = env.perturbations[0]
    affected = perturbation.closed + perturbation.work_zones
    incoming = {lane for tls in env.intersections.values() for lane in tls.incoming_lanes}
    assert len(affected) == round(0.5 * len(incoming))
    assert all(libsumo.lane.getMaxSpeed(lane) == 3.0 for lane in perturbation.work_zones)
    assert all(libsumo.lane.getAllowed(lane) == ("authority",) for lane in perturbation.closed)
    while env.agents:
        env.step({})
    closed = env.episode_metrics()
    env.close()
    assert closed["mean_travel_time"] > 1.1 * normal["mean_travel_time"]


def test_dropped_detectors_read_zero():
    failure = PerturbationConfig(name="detector_failure", level=1.0, params={"mode": "dropped"})
    healthy_obs, _, healthy, _ = episode()
    failed_obs, _, failed, env = episode(failure)
    assert failed == healthy
    broken = env.perturbations[0].failed
    assert len(broken) == round(0.25 * len(env.detectors.incoming_ids))
    healthy_matrix, failed_matrix = stacked(healthy_obs), stacked(failed_obs)
    assert not np.array_equal(healthy_matrix, failed_matrix)
    for agent in env.possible_agents:  # each failed detector's count and queue features are zero
        lanes = env.detectors.incoming[agent]
        mine = [i - lanes.start for i in broken if lanes.start <= i < lanes.stop]
        start = env.layouts[agent].detector_slice.start
        n_lanes = lanes.stop - lanes.start
        for i in mine:
            assert all(
                obs[agent][start + i] == 0 and obs[agent][start + n_lanes + i] == 0 for obs in failed_obs
            )


def test_stuck_detectors_repeat_one_reading():
    failure = PerturbationConfig(name="detector_failure", level=1.0, params={"mode": "stuck"})
    env = TrafficSignalEnv(TrafficEnvConfig(network="grid2x2", episode_seconds=600, perturbations=[failure]))
    env.reset(seed=0)
    failed = env.perturbations[0].failed
    agent = env.possible_agents[0]  # follow the failed detectors of the first intersection in its vector
    lanes = env.detectors.incoming[agent]
    mine = np.array([i - lanes.start for i in failed if lanes.start <= i < lanes.stop])
    count_at = env.layouts[agent].detector_slice.start + mine
    seen, true = [], []
    while env.agents:
        obs, *_ = env.step({a: 0 for a in env.agents})
        seen.append(obs[agent][count_at])
        true.append(env.detectors.counts_in[failed].copy())
    env.close()
    fail_at = env.perturbations[0].fail_at
    assert len(mine) > 0
    assert all(np.array_equal(s, seen[fail_at]) for s in seen[fail_at:])
    assert not all(np.array_equal(t, true[fail_at]) for t in true[fail_at:])  # the road kept changing


def test_malicious_agents_replace_recorded_actions_with_the_adversary():
    calls = []

    def adversary(agent, observations, actions):
        calls.append(agent)
        return 1 - actions[agent]

    env = TrafficSignalEnv(
        TrafficEnvConfig(
            network="grid2x2",
            episode_seconds=500,
            perturbations=[PerturbationConfig(name="malicious_agents", params={"fraction": 0.5})],
        )
    )
    env.set_adversary(adversary)
    env.reset(seed=0)
    replaced = []
    while env.agents:
        _, _, _, _, infos = env.step({a: 0 for a in env.agents})
        replaced.append([a for a, info in infos.items() if info["action_replaced"]])
    env.close()
    assert all(len(r) <= 1 for r in replaced)
    assert [a for r in replaced for a in r] == calls
    assert 0.3 < len(calls) / len(replaced) < 0.7


def test_unknown_perturbations_and_params_are_user_errors():
    with pytest.raises(UserInputError, match="unknown perturbation"):
        episode(PerturbationConfig(name="earthquake"))
    with pytest.raises(UserInputError, match="unknown params"):
        episode(PerturbationConfig(name="speed_factor", params={"sigma": 1}))
    expected = "speed_factor demand_scale lane_closure observation_noise detector_failure malicious_agents"
    assert set(PERTURBATIONS) == set(expected.split())


def test_level_scales_each_parameter_from_none_to_strongest():
    for name, cls in PERTURBATIONS.items():
        none, strongest = cls(PerturbationConfig(name=name, level=0.0)), cls(PerturbationConfig(name=name))
        neutral = 1.0 if name in ("speed_factor", "demand_scale") else 0.0
        assert none.value == neutral and strongest.value != neutral and cls.scale.startswith(cls.parameter)


def test_speed_factor_reaches_every_vehicle_of_a_city_network():
    half = PerturbationConfig(name="speed_factor", params={"factor": 0.5})
    config = TrafficEnvConfig(
        network="cologne3", episode_seconds=300, control="fixed_time", perturbations=[half]
    )
    env = TrafficSignalEnv(config)
    env.reset(seed=0)
    factors = []
    while env.agents:
        env.step({})
        if env.agents:
            factors += [libsumo.vehicle.getSpeedFactor(v) for v in libsumo.vehicle.getIDList()]
    env.close()
    assert len(factors) > 100
    assert 0.45 < np.mean(factors) < 0.55 and max(factors) < 0.8
