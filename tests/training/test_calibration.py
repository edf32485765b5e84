"""ERNIE's radius fitted to the network's detector readings (``regularizer.epsilon_readings``), on
real SUMO: a sparse network gets a smaller ball, a busy one keeps ``epsilon``, and a run states and
reuses the radius it trained with."""

from __future__ import annotations

import pytest
import yaml

from ernie_traffic.envs.traffic import TrafficEnvConfig
from ernie_traffic.errors import UserInputError
from ernie_traffic.runs import RunDirectory
from ernie_traffic.training.calibration import mean_reading_norm, with_network_radius
from ernie_traffic.training.config import TrainConfig
from ernie_traffic.training.loop import train
from ernie_traffic.utils.config_files import load_config, read_mapping


def test_the_sparse_grid_gets_a_smaller_ball_and_the_busy_one_keeps_epsilon():
    sparse, busy = (mean_reading_norm(TrafficEnvConfig(network=n)) for n in ("grid4x4", "grid2x2"))
    assert 0 < sparse < 0.5 * busy  # grid4x4's 1 473 vehicles an hour over 16 intersections
    radius = {
        n: with_network_radius(TrainConfig.model_validate({"env": {"network": n}})).regularizer
        for n in ("grid4x4", "grid2x2")
    }
    # measured again inside, to the last bit: the measurement uses no random state but SUMO's
    assert radius["grid4x4"].epsilon == 0.165 * sparse and radius["grid4x4"].epsilon < 0.02
    assert radius["grid2x2"].epsilon == 0.05  # the bound binds: grid2x2 trains as before the rule
    assert radius["grid4x4"].epsilon_readings is None


@pytest.mark.parametrize("reg", ["none", "ernie-a"])
def test_learners_without_an_observation_ball_are_left_alone(reg):
    config = TrainConfig.model_validate({"env": {"network": "grid4x4"}, "reg": reg})
    assert with_network_radius(config) == config


def test_a_run_states_the_radius_it_trained_with_and_a_resume_keeps_it(tmp_path):
    config = TrainConfig.model_validate(
        {
            "env": {"network": "grid2x2", "episode_seconds": 300},
            "episodes": 1,
            "eval_episodes": 0,
            "validation_episodes": 0,
            "out_dir": str(tmp_path),
            "regularizer": {"epsilon_readings": 0.01},
        }
    )
    run = RunDirectory(train(config).run_dir)
    saved = load_config(TrainConfig, run.config).regularizer
    assert saved.epsilon == pytest.approx(0.01 * mean_reading_norm(config.env)) and saved.epsilon < 0.05
    assert saved.epsilon_readings is None
    # a resume takes the radius from the run's file, also from one written before the rule (which
    # trained with its epsilon): measuring again would give 0.01 × the reading norm
    assert with_network_radius(config, run.config).regularizer == saved
    older = read_mapping(run.config)
    del older["regularizer"]["epsilon_readings"]
    older["regularizer"]["epsilon"] = 0.03
    run.config.write_text(yaml.safe_dump(older))
    train(config.model_copy(update={"episodes": 2}), run.path, resume=True)
    resumed = load_config(TrainConfig, run.config).regularizer
    assert resumed.epsilon == 0.03 and resumed.epsilon_readings is None


def test_a_network_whose_detectors_see_no_vehicle_is_one_clear_error(tmp_path):
    routes = tmp_path / "empty.rou.xml"
    routes.write_text("<routes/>\n")
    config = TrainConfig.model_validate(
        {"env": {"network": "grid2x2", "route_files": [str(routes)], "episode_seconds": 60}}
    )
    with pytest.raises(UserInputError, match="epsilon_readings: null"):
        with_network_radius(config)
