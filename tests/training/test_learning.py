"""Learning, asserted against the strongest classical controller: a short QCOMBO run on the 2×2 grid
(default settings, 100 m stop-line zones) beats max-pressure reading the same detectors."""

from __future__ import annotations

import pytest

from ernie_traffic.controllers import classical_controller
from ernie_traffic.controllers.learned import load_controller
from ernie_traffic.evaluation import evaluate, evaluation_seeds
from ernie_traffic.training.config import TrainConfig
from ernie_traffic.training.loop import train


@pytest.mark.slow
def test_short_qcombo_training_beats_max_pressure_on_mean_delay(tmp_path):
    config = TrainConfig.model_validate(
        {
            "env": {"network": "grid2x2"},
            "reg": "none",
            "episodes": 4,  # one-hour episodes; a validation episode after each keeps the best policy
            "eval_episodes": 0,
            "out_dir": str(tmp_path),
            "qcombo": {"epsilon_decay_steps": 1440},  # ε 1 → 0.05 over the first 2 episodes
        }
    )
    run = train(config).run_dir
    seeds = evaluation_seeds(1)
    learned = evaluate(load_controller(run), config.env, seeds)["mean"]["mean_delay"]
    controller = classical_controller("max-pressure", "grid2x2", work_dir=tmp_path)
    max_pressure = evaluate(controller, config.env, seeds)["mean"]["mean_delay"]
    assert learned < 0.97 * max_pressure, f"learned {learned:.1f} s vs max-pressure {max_pressure:.1f} s"
