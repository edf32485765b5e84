"""Drive the ONNX runtime and an in-process policy side by side through one SUMO episode."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from ernie_deploy.runtime import MODEL, ControllerRuntime

from ernie_traffic.envs.traffic import TrafficSignalEnv


def drive_side_by_side(
    env: TrafficSignalEnv,
    runtime: ControllerRuntime,
    act: Callable[[dict[str, np.ndarray]], dict[str, int]],
    seed: int,
    decisions: int,
) -> list[int]:
    """Each decision: the runtime, fed the environment's detector readings, must build the same
    observations, choose the same greens as ``act`` and show the same signal states afterwards.
    Returns every action taken."""
    observations, _ = env.reset(seed=seed)
    runtime.reset()
    bank = env.detectors
    chosen: list[int] = []
    for _ in range(decisions):
        readings = {
            a: (bank.counts_in[bank.incoming[a]], bank.queues_in[bank.incoming[a]]) for a in env.agents
        }
        for agent, obs in observations.items():
            np.testing.assert_array_equal(runtime.observation(agent, readings[agent]), obs)
        decisions_made = runtime.decide(readings)
        actions = act(observations)
        assert {a: d.green for a, d in decisions_made.items()} == actions
        assert all(d.source == MODEL for d in decisions_made.values())
        chosen.extend(actions.values())
        observations, _, _, truncations, _ = env.step(actions)
        runtime.advance(env.config.decision_interval)
        assert runtime.signal_states() == {a: t.state for a, t in env.timers.items()}
        if all(truncations.values()):
            break
    return chosen
