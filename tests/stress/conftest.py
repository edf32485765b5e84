"""Tiny stress sweeps on the bundled 2×2 grid, shared by the stress tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from ernie_traffic.controllers.learned import policy_record, save_policy
from ernie_traffic.envs.traffic import TrafficEnvConfig, TrafficSignalEnv
from ernie_traffic.models.networks import SharedAgentNet
from ernie_traffic.stress import Family, StressPlan, Sweep
from ernie_traffic.training.loop import spec_from_env
from ernie_traffic.training.run_dir import RunDirectory


def tiny_sweep(**changes) -> Sweep:
    """Fixed-time and max-pressure, baseline + speed reduction at two severities, two seeds, 600 s."""
    plan = StressPlan(
        seeds=[0, 1],
        horizon=600,
        families=[Family(name="speed", perturbation="speed_factor", levels=[0.5, 1.0], nominal=0)],
    )
    fields = {"network": "grid2x2", "controllers": ["fixed-time", "max-pressure"], "plan": plan, **changes}
    return Sweep(**fields)


@pytest.fixture(scope="session")
def untrained_run(tmp_path_factory) -> Path:
    """A run directory holding an untrained QCOMBO policy for grid2x2: a real learned controller whose
    weights are simply random (enough to exercise attacks, adversaries and Lipschitz estimates)."""
    run = RunDirectory(tmp_path_factory.mktemp("runs") / "untrained")
    env = TrafficSignalEnv(TrafficEnvConfig(network="grid2x2"))
    try:
        env.reset(seed=0)
        spec = spec_from_env(env)
    finally:
        env.close()
    net = SharedAgentNet(spec, [32, 32])
    save_policy(run, policy_record("qcombo", "grid2x2", "q_values", net, [32, 32]))
    return run.path
