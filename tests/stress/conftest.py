"""Fixtures of the stress tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from ernie_traffic.controllers.learned import policy_record, save_policy
from ernie_traffic.envs.traffic import TrafficEnvConfig, TrafficSignalEnv
from ernie_traffic.models.networks import SharedAgentNet
from ernie_traffic.training.loop import spec_from_env
from ernie_traffic.training.run_dir import RunDirectory


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
