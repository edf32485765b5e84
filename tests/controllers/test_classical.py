"""Every classical controller drives a homogeneous (grid2x2) and a heterogeneous (cologne3)
network through the one evaluation path."""

from __future__ import annotations

from pathlib import Path

import pytest

from ernie_traffic.controllers import CLASSICAL, classical_controller
from ernie_traffic.envs.traffic import TrafficEnvConfig
from ernie_traffic.errors import UserInputError
from ernie_traffic.evaluation import evaluate


@pytest.mark.parametrize("network", ["grid2x2", "cologne3"])
@pytest.mark.parametrize("name", [*CLASSICAL, "random"])
def test_classical_controller_runs_an_episode(name, network, tmp_path):
    controller = classical_controller(name, network, work_dir=tmp_path)
    result = evaluate(controller, TrafficEnvConfig(network=network, episode_seconds=300), seeds=[0])
    metrics = result["mean"]
    assert result["controller"] == name
    assert metrics["throughput"] > 0
    assert metrics["mean_delay"] >= 0 and metrics["return"] <= 0


def test_webster_writes_a_program_that_changes_the_signals(tmp_path):
    config = TrafficEnvConfig(network="grid2x2", episode_seconds=600)
    fixed = evaluate(classical_controller("fixed-time", "grid2x2"), config, seeds=[0])["mean"]
    webster = classical_controller("webster", "grid2x2", work_dir=tmp_path)
    assert len(webster.additional_files) == 1
    assert "tlLogic" in Path(webster.additional_files[0]).read_text()
    assert evaluate(webster, config, seeds=[0])["mean"]["mean_delay"] != fixed["mean_delay"]


def test_max_pressure_beats_fixed_time_on_the_grid():
    config = TrafficEnvConfig(network="grid2x2", episode_seconds=900)
    fixed = evaluate(classical_controller("fixed-time", "grid2x2"), config, seeds=[0])["mean"]
    pressure = evaluate(classical_controller("max-pressure", "grid2x2"), config, seeds=[0])["mean"]
    assert pressure["mean_delay"] < fixed["mean_delay"]


def test_unknown_controller_is_a_user_error():
    with pytest.raises(UserInputError, match="unknown controller 'greedy'"):
        classical_controller("greedy", "grid2x2")
