"""Learning, asserted: a short QCOMBO run on the 2×2 grid beats a uniformly random controller."""

from __future__ import annotations

import pytest

from ernie_traffic.controllers import classical_controller
from ernie_traffic.controllers.learned import load_controller
from ernie_traffic.evaluation import evaluate, evaluation_seeds
from ernie_traffic.training.config import TrainConfig
from ernie_traffic.training.loop import train


@pytest.mark.slow
def test_short_qcombo_training_beats_random_on_mean_delay(tmp_path):
    config = TrainConfig.model_validate(
        {
            "env": {"network": "grid2x2", "episode_seconds": 600},
            "reg": "none",
            "episodes": 10,
            "eval_episodes": 0,
            "out_dir": str(tmp_path),
            "qcombo": {"learning_starts": 200, "epsilon_decay_steps": 800},
        }
    )
    run = train(config).run_dir
    seeds = evaluation_seeds(1)
    learned = evaluate(load_controller(run), config.env, seeds)["mean"]["mean_delay"]
    random = evaluate(classical_controller("random", "grid2x2"), config.env, seeds)["mean"]["mean_delay"]
    assert learned < 0.85 * random, f"learned {learned:.1f} s vs random {random:.1f} s"
