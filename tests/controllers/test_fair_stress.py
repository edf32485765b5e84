"""Detector-driven classical controllers read the perceived detectors, as in the field: sensor
noise and failed detectors reach max-pressure and actuated-detector as they reach learned
controllers (real SUMO, grid2x2)."""

from __future__ import annotations

import numpy as np

from ernie_traffic.controllers import classical_controller
from ernie_traffic.controllers.classical import ActuatedDetectorController
from ernie_traffic.envs.traffic import PerturbationConfig, TrafficEnvConfig, TrafficSignalEnv
from ernie_traffic.evaluation import evaluate


def run(controller, config: TrafficEnvConfig, seed: int = 0, on_reset=None) -> tuple[list, list]:
    """The controller's decisions over one episode and, after each, the green shown per
    intersection (None during yellow/red); ``on_reset(env)`` runs after the reset."""
    env = TrafficSignalEnv(config)
    try:
        observations, _ = env.reset(seed=seed)
        if on_reset is not None:
            on_reset(env)
        controller.reset(env)
        chosen, greens = [], []
        while env.agents:
            actions = controller.act(observations)
            chosen.append(actions)
            observations, *_ = env.step(actions)
            greens.append([None if t.in_transition else t.green for t in env.timers.values()])
        return chosen, greens
    finally:
        env.close()


def test_max_pressure_decides_on_noisy_detectors():
    clean = TrafficEnvConfig(network="grid2x2", episode_seconds=300)
    noise = PerturbationConfig(name="observation_noise", level=1.0)
    noisy = clean.model_copy(update={"perturbations": [noise]})
    controller = classical_controller("max-pressure", "grid2x2")
    clean_decisions, _ = run(controller, clean)
    noisy_decisions, _ = run(controller, noisy)
    assert noisy_decisions != clean_decisions
    assert run(controller, noisy)[0] == noisy_decisions  # seeded: the same noise again


def test_actuated_detector_beats_fixed_time_on_the_grid():
    config = TrafficEnvConfig(network="grid2x2", episode_seconds=900, decision_interval=1)
    fixed = evaluate(classical_controller("fixed-time", "grid2x2"), config, seeds=[0])["mean"]
    controller = classical_controller("actuated-detector", "grid2x2")
    actuated = evaluate(controller, config, seeds=[0])["mean"]
    assert actuated["mean_delay"] < 0.8 * fixed["mean_delay"]
    assert not controller.failed.any()  # no healthy detector is taken for a failed one


def test_a_failed_approach_falls_back_to_recall():
    """Every detector of the first green phase's approaches drops out: without the no-activity
    recall that phase would get only the timer's forced min greens; with it, it keeps its share."""
    dropped = PerturbationConfig(name="detector_failure", level=1.0, params={"mode": "dropped"})
    config = TrafficEnvConfig(
        network="grid2x2", episode_seconds=900, decision_interval=1, perturbations=[dropped]
    )
    failed_lanes: list[np.ndarray] = []

    def fail_first_phase(env: TrafficSignalEnv) -> None:
        tls = env.intersections
        failed = sorted(
            {
                env.detectors.incoming[agent].start + tls[agent].incoming_lanes.index(lane)
                for agent in env.possible_agents
                for lane, _ in tls[agent].movements[0]
            }
        )
        env.perturbations[0].failed = np.array(failed)
        failed_lanes.append(env.perturbations[0].failed)

    share = {}
    for no_activity_s in (120.0, float("inf")):
        controller = ActuatedDetectorController(no_activity_s=no_activity_s)
        _, greens = run(controller, config, on_reset=fail_first_phase)
        late = np.array(greens[300:])  # after the no-activity diagnostic had time to trip
        share[no_activity_s] = np.mean(late == 0)
        if no_activity_s == 120.0:
            assert controller.failed.nonzero()[0].tolist() == failed_lanes[-1].tolist()
    assert share[120.0] > 0.3  # served to max green every cycle
    assert share[float("inf")] < 0.15  # without recall: starved
