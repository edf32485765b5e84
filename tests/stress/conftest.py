"""Fixtures of the stress tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from ernie_traffic.controllers.learned import policy_record, save_policy
from ernie_traffic.envs.traffic import TrafficEnvConfig, TrafficSignalEnv
from ernie_traffic.models.networks import SharedAgentNet
from ernie_traffic.runs import RunDirectory
from ernie_traffic.training.loop import spec_from_env


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


def train_tiny_run(algo: str, root: Path) -> Path:
    """A real training run on grid2x2 (one 300 s episode, small networks): run directory with config,
    checkpoint and policy, as ``ernie-traffic train`` leaves it."""
    from ernie_traffic.algorithms.coma import COMAConfig
    from ernie_traffic.algorithms.qcombo import QCOMBOConfig
    from ernie_traffic.training.config import TrainConfig
    from ernie_traffic.training.loop import train

    config = TrainConfig(
        env=TrafficEnvConfig(network="grid2x2", episode_seconds=300),
        algo=algo,
        reg="none",
        episodes=1,
        eval_episodes=0,
        qcombo=QCOMBOConfig(hidden=[32, 32], learning_starts=20, batch_size=16),
        coma=COMAConfig(hidden=[32, 32]),
        out_dir=root,
    )
    return train(config, run_dir=root / algo).run_dir


@pytest.fixture(scope="session")
def qcombo_run(tmp_path_factory) -> Path:
    """A QCOMBO run whose checkpoint holds the local Qs and the global Q(s, a)."""
    return train_tiny_run("qcombo", tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="session")
def coma_run(tmp_path_factory) -> Path:
    """A COMA run: a policy of logits, a checkpoint with a critic but no global Q(s, a)."""
    return train_tiny_run("coma", tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="session")
def qcombo_bundle(qcombo_run, tmp_path_factory) -> Path:
    """``qcombo_run`` exported to a controller bundle (``ernie-traffic export``)."""
    from ernie_traffic.export.run import export_run

    out = tmp_path_factory.mktemp("bundles") / "qcombo"
    export_run(qcombo_run, out, n_random=200)
    return out
