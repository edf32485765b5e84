"""End to end on the 2×2 grid with real SUMO: export torch policies of the environment's
intersections, then drive the ONNX runtime from the environment's detector readings step by step:
same observations, same actions as the in-process torch policy, same signal states."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ernie_deploy.bundle import load_bundle
from ernie_deploy.runtime import MODEL, ControllerRuntime

from ernie_traffic.envs.traffic import TrafficEnvConfig, TrafficSignalEnv
from ernie_traffic.export.bundle import export_bundle, record_observations
from ernie_traffic.export.onnx_model import MAX_ABS_DIFF

DECISIONS = 80


@pytest.fixture
def env():
    env = TrafficSignalEnv(TrafficEnvConfig(network="grid2x2", episode_seconds=DECISIONS * 5, seed=0))
    yield env
    env.close()


def policies(env: TrafficSignalEnv) -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {
        agent: torch.nn.Sequential(
            torch.nn.Linear(env.layouts[agent].size, 64),
            torch.nn.Tanh(),
            torch.nn.Linear(64, env.intersections[agent].n_actions),
        ).eval()
        for agent in env.possible_agents
    }


def greedy(modules, observations):
    with torch.no_grad():
        return {a: int(modules[a](torch.from_numpy(obs)[None]).argmax()) for a, obs in observations.items()}


def test_exported_runtime_reproduces_the_torch_policy_in_sumo(env, tmp_path, capsys):
    modules = policies(env)
    recorded = record_observations(env, lambda obs: greedy(modules, obs), steps=DECISIONS, seed=0)
    result = export_bundle(env, modules, tmp_path / "bundle", recorded=recorded, training={"test": True})
    for report in result.parity:
        print(report.line())
        assert report.recorded >= DECISIONS and report.random == 2000
        assert report.max_abs_diff <= MAX_ABS_DIFF and report.greedy_mismatches == 0

    runtime = ControllerRuntime(load_bundle(tmp_path / "bundle", network="grid2x2"))
    observations, _ = env.reset(seed=1)
    runtime.reset()
    bank = env.detectors
    chosen = []
    for _ in range(DECISIONS):
        readings = {
            a: (bank.counts_in[bank.incoming[a]], bank.queues_in[bank.incoming[a]]) for a in env.agents
        }
        for agent, obs in observations.items():
            np.testing.assert_array_equal(runtime.observation(agent, readings[agent]), obs)
        decisions = runtime.decide(readings)
        actions = greedy(modules, observations)
        assert {a: d.green for a, d in decisions.items()} == actions
        assert all(d.source == MODEL for d in decisions.values())
        chosen.extend(actions.values())
        observations, _, _, truncations, _ = env.step(actions)
        runtime.advance(env.config.decision_interval)
        assert runtime.signal_states() == {a: t.state for a, t in env.timers.items()}
        if all(truncations.values()):
            break
    assert len(set(chosen)) > 1, "the policy never changed its choice: the comparison would be vacuous"
    assert "parity" in capsys.readouterr().out
