"""Domain randomization: every training episode draws its perturbation levels from the configured
ranges, reproducibly from the run seed, and the environment runs them."""

from __future__ import annotations

import json
import os
import re
import sys

import pytest
from test_cli_train import run_cli
from test_runs import tiny_config

from ernie_traffic.errors import UserInputError
from ernie_traffic.training.config import DEFAULT_DOMAIN_RANDOMIZATION, TrainConfig
from ernie_traffic.training.loop import train
from ernie_traffic.utils.config_files import load_config

RANGES = {"speed_factor": (0.0, 0.5), "demand_scale": (0.2, 0.4), "observation_noise": (0.0, 1.0)}


def test_episodes_draw_levels_in_range_reproducibly_from_the_seed():
    config = TrainConfig(domain_randomization=RANGES, seed=3)
    first, second = config.domain_levels(0), config.domain_levels(1)
    assert first != second
    assert TrainConfig(domain_randomization=RANGES, seed=3).domain_levels(1) == second
    assert TrainConfig(domain_randomization=RANGES, seed=4).domain_levels(1) != second
    for levels in (first, second):
        assert all(RANGES[name][0] <= level <= RANGES[name][1] for name, level in levels.items())
    # one range more leaves the others' draws alone
    wider = TrainConfig(domain_randomization={**RANGES, "lane_closure": (0.0, 1.0)}, seed=3)
    assert {name: wider.domain_levels(1)[name] for name in RANGES} == second
    env = config.training_env(1)
    assert [(p.name, p.level) for p in env.perturbations] == list(second.items())
    assert TrainConfig().training_env(5).perturbations == []


def test_a_ramp_widens_the_ranges_from_their_low_end():
    ramped = TrainConfig(domain_randomization=RANGES, domain_randomization_ramp=4, seed=3)
    full = TrainConfig(domain_randomization=RANGES, seed=3)
    assert ramped.domain_levels(0) == {name: low for name, (low, _) in RANGES.items()}
    for episode in (1, 2, 3):
        for name, level in ramped.domain_levels(episode).items():
            low, high = RANGES[name]
            assert low <= level <= low + (high - low) * episode / 4
            if high > low:  # the same draw, scaled into the narrower range
                assert level - low == pytest.approx((full.domain_levels(episode)[name] - low) * episode / 4)
    assert ramped.domain_levels(4) == full.domain_levels(4)
    assert ramped.domain_levels(9) == full.domain_levels(9)


@pytest.mark.parametrize(
    ("ranges", "problem"),
    [({"rain": [0, 1]}, "unknown perturbation 'rain'"), ({"speed_factor": [0.5, 0.2]}, "not within [0, 1]")],
)
def test_bad_ranges_are_one_line_naming_the_file(tmp_path, ranges, problem):
    path = tmp_path / "run.yaml"
    path.write_text(json.dumps({"domain_randomization": ranges}))
    with pytest.raises(UserInputError, match=f"run.yaml: domain_randomization: .*{re.escape(problem)}"):
        load_config(TrainConfig, path)


def test_randomized_demand_reaches_the_training_episodes(tmp_path):
    def loaded(record):
        return record["throughput"] + record["unfinished"]

    plain = train(tiny_config(tmp_path, episodes=1), tmp_path / "plain")
    doubled = train(
        tiny_config(tmp_path, episodes=1, domain_randomization={"demand_scale": [1.0, 1.0]}), tmp_path / "dr"
    )
    assert doubled.metrics[0]["domain/demand_scale"] == 1.0
    assert 1.6 < loaded(doubled.metrics[0]) / loaded(plain.metrics[0]) < 2.4


def test_train_with_domain_randomization_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))
    config = tmp_path / "tiny.toml"
    config.write_text(
        "episodes = 2\neval_episodes = 1\nbaselines = []\n"
        "[env]\nepisode_seconds = 120\n[qcombo]\nhidden = [16]\nlearning_starts = 10\n"
    )
    trained = run_cli(
        "train", "--config", str(config), "--reg", "none", "--domain-randomization",
        "--out", "runs", "--quiet", cwd=tmp_path,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    run_dir = tmp_path / "runs" / "grid2x2-qcombo-none-dr-seed0"
    saved = load_config(TrainConfig, run_dir / "config.yaml")
    assert saved.domain_randomization == DEFAULT_DOMAIN_RANDOMIZATION
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for episode, record in enumerate(records):
        drawn = {name.removeprefix("domain/"): v for name, v in record.items() if name.startswith("domain/")}
        assert drawn == saved.domain_levels(episode)
    assert records[0]["domain/observation_noise"] != records[1]["domain/observation_noise"]
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    assert evaluation["learned"]["mean"]["throughput"] > 0
