"""The traffic environment on real SUMO (libsumo): API, determinism, metrics against SUMO's own
statistics, observations against SUMO's lanes, heterogeneous intersections and bad input."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET

import libsumo
import numpy as np
import pytest
from ernie_deploy.features import build_observation
from pettingzoo.test import parallel_api_test, parallel_seed_test

from ernie_traffic.envs.traffic import PerturbationConfig, TrafficEnvConfig, TrafficSignalEnv
from ernie_traffic.envs.traffic.programs import CABINET_PROGRAM_ID
from ernie_traffic.errors import UserInputError
from ernie_traffic.utils.config_files import load_config, save_config
from ernie_traffic.utils.sumo_tools import sumo_binary


def make_env(**fields) -> TrafficSignalEnv:
    return TrafficSignalEnv(TrafficEnvConfig(**{"network": "grid2x2", "episode_seconds": 600, **fields}))


def run_episode(env: TrafficSignalEnv, seed: int, action_seed: int = 0) -> tuple[list[np.ndarray], dict]:
    rng = np.random.default_rng(action_seed)
    env.reset(seed=seed)
    history = [env.state()]
    while env.agents:
        env.step({a: int(rng.integers(env.action_space(a).n)) for a in env.agents})
        history.append(env.state())
    return history, env.episode_metrics()


@pytest.fixture
def env():
    environment = make_env(episode_seconds=300)
    yield environment
    environment.close()


def test_parallel_api(env):
    parallel_api_test(env, num_cycles=100)


def test_pettingzoo_seed_test_with_two_live_traci_envs():
    """TraCI runs SUMO in subprocesses, so two environments may be live at once (libsumo: one)."""
    parallel_seed_test(lambda: make_env(backend="traci", episode_seconds=100), num_cycles=30)


def test_same_seed_same_episode_other_seed_other_episode(env):
    states_a, metrics_a = run_episode(env, seed=3)
    states_b, metrics_b = run_episode(env, seed=3)
    _, metrics_c = run_episode(env, seed=4)
    assert metrics_a == metrics_b
    assert all(np.array_equal(a, b) for a, b in zip(states_a, states_b, strict=True))
    assert metrics_c != metrics_a


def test_metrics_agree_with_sumo_statistics(tmp_path):
    """Fixed-time control for 600 s under the network's own timing (its 3 s yellows, no all-red),
    then SUMO alone on the same files: the same vehicles, travel times, delays and waits (SUMO's
    statistics average over vehicles that entered, unfinished included)."""
    env = make_env(control="fixed_time", red_clearance=0)
    env.reset(seed=5)
    while env.agents:
        env.step({})
    ours = env.episode_metrics()
    env.close()
    stats = tmp_path / "stats.xml"
    scenario = env.scenario
    subprocess.run(
        [str(sumo_binary()), "-n", scenario.net_file, "-r", ",".join(map(str, scenario.route_files)),
         "--seed", "5", "--end", "600", "--tripinfo-output", tmp_path / "tripinfo.xml",
         "--tripinfo-output.write-unfinished", "--statistic-output", stats, "--no-step-log"],
        check=True, capture_output=True,
    )  # fmt: skip
    root = ET.parse(stats).getroot()
    trips, vehicles = root.find("vehicleTripStatistics"), root.find("vehicles")
    inserted, running = int(vehicles.get("inserted")), int(vehicles.get("running"))
    assert ours["throughput"] == inserted - running > 0
    assert ours["unfinished"] - ours["not_inserted"] == running > 0
    assert ours["mean_travel_time"] == pytest.approx(float(trips.get("duration")), abs=0.006)
    assert ours["mean_delay"] == pytest.approx(float(trips.get("timeLoss")), abs=0.006)
    assert ours["mean_waiting_time"] == pytest.approx(float(trips.get("waitingTime")), abs=0.006)


def test_observations_are_the_detector_readings_of_sumo_lanes():
    """Whole-lane detectors: each count is SUMO's vehicles on the lane, each queue its halting vehicles,
    and the vector is ernie_deploy.features.build_observation of those readings and the timer."""
    env = make_env(episode_seconds=300, detector_length=None)
    env.reset(seed=0)
    for _ in range(20):
        obs, *_ = env.step({a: 1 for a in env.agents})
    for agent, tls in env.intersections.items():
        counts = np.array([libsumo.lane.getLastStepVehicleNumber(lane) for lane in tls.incoming_lanes])
        queues = np.array([libsumo.lane.getLastStepHaltingNumber(lane) for lane in tls.incoming_lanes])
        outgoing = np.array([libsumo.lane.getLastStepVehicleNumber(lane) for lane in tls.outgoing_lanes])
        np.testing.assert_array_equal(env.detectors.counts_out[env.detectors.outgoing[agent]], outgoing)
        timer = env.timers[agent]
        expected = build_observation(
            env.layouts[agent], counts, queues, timer.green, timer.in_transition, timer.time_in_stage
        )
        np.testing.assert_array_equal(obs[agent], expected)
    assert sum(o[env.layouts[a].detector_slice].sum() for a, o in obs.items()) > 0
    env.close()


def test_sumo_shows_what_the_timer_decides():
    env = make_env(decision_interval=2)
    env.reset(seed=0)
    for _ in range(3):
        env.step({a: 0 for a in env.agents})
    shown = []
    for _ in range(3):  # t = 6: min green has passed, so 3 s yellow and 2 s red clearance start now
        obs, *_ = env.step({a: 1 for a in env.agents})
        shown.append({a: libsumo.trafficlight.getRedYellowGreenState(a) for a in env.agents})
        assert all(shown[-1][a] == env.timers[a].state for a in env.agents)
    for agent, tls in env.intersections.items():
        assert "y" in shown[0][agent] and set(shown[1][agent]) == {"r"}
        assert shown[2][agent] == tls.green_states[1]
        assert obs[agent][1] == 1.0 and obs[agent][2] == 0.0  # one-hot of green 1, not in transition
    env.close()


def test_fixed_time_ignores_actions(env):
    env = make_env(control="fixed_time", episode_seconds=300)
    _, metrics_a = run_episode(env, seed=0, action_seed=1)
    _, metrics_b = run_episode(env, seed=0, action_seed=2)
    env.close()
    assert metrics_a == metrics_b


def test_heterogeneous_intersections_have_their_own_spaces_and_a_padded_joint_view():
    env = TrafficSignalEnv(TrafficEnvConfig(network="cologne3", episode_seconds=60))
    try:
        sizes = {a: env.observation_space(a).shape[0] for a in env.possible_agents}
        actions = {a: env.action_space(a).n for a in env.possible_agents}
        assert len(set(sizes.values())) > 1 and len(set(actions.values())) > 1
        assert env.action_mask.sum(axis=1).tolist() == [actions[a] for a in env.possible_agents]
        obs, _ = env.reset(seed=0)
        assert env.sim_time == env.scenario.begin == 25200
        state = env.state()
        assert state.shape == (len(env.possible_agents) * max(sizes.values()),)
        row = env.possible_agents.index(min(sizes, key=sizes.get))
        padded = state.reshape(len(env.possible_agents), -1)[row]
        assert np.array_equal(padded[: min(sizes.values())], obs[env.possible_agents[row]])
        assert not padded[min(sizes.values()) :].any()
        while env.agents:
            env.step({a: actions[a] - 1 for a in env.agents})
        assert env.episode_metrics()["throughput"] >= 0
    finally:
        env.close()


def test_a_second_live_libsumo_env_is_refused_until_the_first_is_closed(env):
    env.reset(seed=0)
    other = make_env()
    with pytest.raises(UserInputError, match="one simulation per process"):
        other.reset(seed=0)
    env.close()
    other.reset(seed=0)
    other.close()


def test_sumo_failing_to_start_names_the_files(tmp_path):
    routes = tmp_path / "broken.rou.xml"
    routes.write_text('<routes><vehicle id="v" depart="0"><route edges="no_such_edge"/></vehicle></routes>')
    env = make_env(route_files=[routes])
    with pytest.raises(UserInputError, match=r"broken\.rou\.xml.*no_such_edge"):
        env.reset(seed=0)
    env.close()
    healthy = make_env(episode_seconds=30)  # libsumo is usable again after the failure
    healthy.reset(seed=0)
    healthy.close()


def test_bad_networks_are_user_errors(tmp_path):
    no_lights = tmp_path / "plain.net.xml"
    no_lights.write_text('<net version="1.20"><edge id="e"><lane id="e_0" length="10"/></edge></net>')
    (tmp_path / "plain.rou.xml").write_text("<routes/>")
    with pytest.raises(UserInputError, match="no traffic lights"):
        TrafficSignalEnv(TrafficEnvConfig(network=str(no_lights)))
    broken = tmp_path / "broken.net.xml"
    broken.write_text("<net><edge")
    (tmp_path / "broken.rou.xml").write_text("<routes/>")
    with pytest.raises(UserInputError, match=r"broken\.net\.xml"):
        TrafficSignalEnv(TrafficEnvConfig(network=str(broken)))
    with pytest.raises(UserInputError, match="unknown reward"):
        make_env(reward="speed")


def test_e2_detectors_of_a_given_length_see_the_end_of_their_lane():
    env = make_env(detector_length=30.0, episode_seconds=200)
    env.reset(seed=0)
    for _ in range(30):
        env.step({a: 0 for a in env.agents})
    assert set(env.detectors.incoming_ids + env.detectors.outgoing_ids) <= set(libsumo.lanearea.getIDList())
    lanes = [lane for tls in env.intersections.values() for lane in tls.incoming_lanes]
    on_lane = np.array([libsumo.lane.getLastStepVehicleNumber(lane) for lane in lanes])
    near_stop_line = np.array(
        [
            sum(libsumo.vehicle.getLanePosition(v) > libsumo.lane.getLength(lane) - 30 - 5
                for v in libsumo.lane.getLastStepVehicleIDs(lane))
            for lane in lanes
        ]
    )  # fmt: skip
    counts = env.detectors.counts_in
    assert (counts <= near_stop_line).all() and (counts <= on_lane).all()
    assert counts.sum() > 0 and (counts < on_lane).any()
    env.close()


def test_actuated_control_runs_sumo_actuated_programs_and_beats_fixed_time():
    results = {}
    for control in ("fixed_time", "actuated"):
        env = make_env(control=control)
        env.reset(seed=0)
        assert {libsumo.trafficlight.getProgram(a) for a in env.agents} == {CABINET_PROGRAM_ID}
        logic = libsumo.trafficlight.getAllProgramLogics(env.agents[0])
        kind = next(p.type for p in logic if p.programID == CABINET_PROGRAM_ID)
        assert kind == (3 if control == "actuated" else 0)  # SUMO's TrafficLightType: 3 actuated, 0 static
        while env.agents:
            env.step({})
        results[control] = env.episode_metrics()["mean_delay"]
        env.close()
    assert results["actuated"] < 0.8 * results["fixed_time"]


def test_traci_backend_gives_the_same_episode_as_libsumo():
    metrics = {}
    for backend in ("libsumo", "traci"):
        env = make_env(backend=backend, episode_seconds=150)
        _, metrics[backend] = run_episode(env, seed=2)
        env.close()
    assert metrics["traci"] == metrics["libsumo"]


@pytest.mark.parametrize("reward", ["queue", "pressure", "diff-waiting-time"])
def test_rewards_follow_the_lanes(reward):
    env = make_env(reward=reward, episode_seconds=200, detector_length=None)  # whole-lane readings
    env.reset(seed=0)
    for _ in range(25):
        _, rewards, *_ = env.step({a: 0 for a in env.agents})
    for agent, tls in env.intersections.items():
        halting = sum(libsumo.lane.getLastStepHaltingNumber(lane) for lane in tls.incoming_lanes)
        inside = sum(libsumo.lane.getLastStepVehicleNumber(lane) for lane in tls.incoming_lanes)
        leaving = sum(libsumo.lane.getLastStepVehicleNumber(lane) for lane in tls.outgoing_lanes)
        expected = {"queue": -halting, "pressure": leaving - inside}.get(reward)
        if expected is not None:
            assert rewards[agent] == expected
    assert any(r != 0 for r in rewards.values())
    env.close()


def test_config_with_perturbations_round_trips_through_yaml(tmp_path):
    config = TrafficEnvConfig(
        network="cologne3",
        control="actuated",
        perturbations=[PerturbationConfig(name="detector_failure", level=0.5, params={"mode": "stuck"})],
    )
    save_config(config, tmp_path / "env.yaml")
    assert load_config(TrafficEnvConfig, tmp_path / "env.yaml") == config
    with pytest.raises(UserInputError, match="min_green"):
        load_config(TrafficEnvConfig, None, min_green=30, max_green=10)
    with pytest.raises(UserInputError, match="whole seconds"):
        load_config(TrafficEnvConfig, None, decision_interval=2.5)


def test_reset_recovers_after_the_simulation_died(env):
    env.reset(seed=0)
    libsumo.close()  # SUMO gone behind the environment's back, as after a fatal SUMO error
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step({a: 0 for a in env.agents})
    assert set(obs) == set(env.possible_agents)
