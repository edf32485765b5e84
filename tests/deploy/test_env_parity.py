"""End to end on the 2×2 grid with real SUMO: export torch policies of the environment's
intersections, then drive the ONNX runtime from the environment's detector readings step by step:
same observations, same actions as the in-process torch policy, same signal states."""

from __future__ import annotations

import pytest
import torch
from ernie_deploy.bundle import load_bundle
from ernie_deploy.runtime import ControllerRuntime
from side_by_side import drive_side_by_side

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
    chosen = drive_side_by_side(env, runtime, lambda obs: greedy(modules, obs), seed=1, decisions=DECISIONS)
    assert len(set(chosen)) > 1, "the policy never changed its choice: the comparison would be vacuous"
    assert "parity" in capsys.readouterr().out
