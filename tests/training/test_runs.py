"""Training runs: resume reaches the uninterrupted result, configs round-trip, bad input is one
clear line, the run directory holds what the docs promise."""

from __future__ import annotations

import itertools

import pytest
import torch

from ernie_traffic.controllers.learned import load_controller
from ernie_traffic.errors import UserInputError
from ernie_traffic.runs import RunDirectory, load_torch
from ernie_traffic.training.config import TrainConfig
from ernie_traffic.training.loop import train, validation_delay
from ernie_traffic.utils.config_files import load_config, save_config


def tiny_config(tmp_path, **changes) -> TrainConfig:
    """A run of a few 2-minute episodes on the 2×2 grid with small networks."""
    data = {
        "env": {"network": "grid2x2", "episode_seconds": 120},
        "episodes": 3,
        "eval_episodes": 0,
        "out_dir": str(tmp_path),
        "qcombo": {"hidden": [16], "learning_starts": 10, "batch_size": 8},
        "coma": {"hidden": [16], "rollout_steps": 10, "minibatch_size": 5, "critic_epochs": 1},
        "regularizer": {"steps": 2},
    }
    data.update(changes)
    return TrainConfig.model_validate(data)


class Killed(Exception):
    pass


def kill_after(episodes: int):
    def on_episode(record):
        if record["episode"] + 1 == episodes:
            raise Killed

    return on_episode


def without_timing(records):
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in records]


@pytest.mark.parametrize(("algo", "reg"), [("qcombo", "ernie"), ("coma", "ernie-a")])
def test_resume_after_a_kill_equals_the_uninterrupted_run(tmp_path, algo, reg):
    config = tiny_config(tmp_path, algo=algo, reg=reg)
    whole = train(config, tmp_path / "whole")
    with pytest.raises(Killed):
        train(config, tmp_path / "killed", on_episode=kill_after(2))
    resumed = train(config, tmp_path / "killed", resume=True)

    assert without_timing(resumed.metrics) == without_timing(whole.metrics)
    assert [r["episode"] for r in resumed.metrics] == [0, 1, 2]
    a = torch.load(RunDirectory(whole.run_dir).policy, weights_only=False)["state_dict"]
    b = torch.load(RunDirectory(resumed.run_dir).policy, weights_only=False)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_policy_kept_is_the_one_that_validated_best(tmp_path):
    config = tiny_config(tmp_path, episodes=4, reg="none", validation_episodes=1)
    result = train(config, tmp_path / "run")
    delays = [r["validation_delay"] for r in result.metrics]
    assert len(set(delays)) > 1  # the policies differ, so keeping the best is a choice
    kept = load_torch(RunDirectory(result.run_dir).policy)
    assert validation_delay(config, kept) == min(delays)


def test_patience_stops_training_after_validations_without_progress(tmp_path):
    config = tiny_config(tmp_path, episodes=12, reg="none", validation_episodes=1, patience=1)
    metrics = train(config, tmp_path / "run").metrics
    delays = [r["validation_delay"] for r in metrics]
    assert len(metrics) < config.episodes
    assert delays[-1] >= min(delays[:-1])  # the last validation found nothing better
    assert all(a > b for a, b in itertools.pairwise(delays[:-1]))  # until then each improved


def test_checkpoint_from_another_network_or_algorithm_is_refused(tmp_path):
    config = tiny_config(tmp_path, episodes=1, reg="none")
    run = train(config, tmp_path / "run").run_dir
    other_network = config.model_copy(update={"env": config.env.model_copy(update={"network": "cologne3"})})
    with pytest.raises(UserInputError, match=r"checkpoint is from network 'grid2x2'.*'cologne3'"):
        train(other_network, run, resume=True)
    with pytest.raises(UserInputError, match=r"checkpoint is from algo 'qcombo'.*'coma'"):
        train(config.model_copy(update={"algo": "coma"}), run, resume=True)
    with pytest.raises(UserInputError, match="already holds a run"):
        train(config, run)
    wider = config.model_copy(update={"qcombo": config.qcombo.model_copy(update={"hidden": [32]})})
    with pytest.raises(UserInputError, match=r"checkpoint\.pt: checkpoint does not fit this run's qcombo"):
        train(wider, run, resume=True)
    (run / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserInputError, match=r"checkpoint\.pt: cannot read checkpoint"):
        train(config, run, resume=True)


def test_run_directory_holds_config_metrics_policy_and_evaluation(tmp_path):
    config = tiny_config(tmp_path, episodes=1, reg="none", eval_episodes=1)
    result = train(config)
    run = RunDirectory(result.run_dir)
    assert result.run_dir == tmp_path / "grid2x2-qcombo-none-seed0"
    assert load_config(TrainConfig, run.config) == config
    (record,) = run.read_metrics()
    for key in ("return", "mean_delay", "mean_travel_time", "throughput", "regularizer", "loss/total"):
        assert key in record
    assert set(result.evaluation) == {"learned", "actuated", "max-pressure", "webster", "fixed-time"}
    controller = load_controller(run.path)
    modules = controller.policy_modules
    assert set(modules) == set(controller.spec.agents)
    agent = controller.spec.agents[0]
    scores = modules[agent](torch.zeros(1, controller.observation_spec[agent]["obs_dim"]))
    assert scores.shape == (1, controller.observation_spec[agent]["n_actions"])


def test_a_policy_refuses_an_environment_with_other_detectors_or_decision_interval(tmp_path):
    from ernie_traffic.envs.traffic import TrafficSignalEnv
    from ernie_traffic.evaluation import evaluate

    config = tiny_config(tmp_path, episodes=1, reg="none", validation_episodes=0)
    controller = load_controller(train(config).run_dir)
    assert controller.sensing == config.env.sensing()
    for change, expected in (
        ({"detector_length": None}, "detector_length 100.0"),
        ({"decision_interval": 2}, "decision_interval 5.0"),
    ):
        env = TrafficSignalEnv(config.env.model_copy(update=change))
        with pytest.raises(UserInputError, match=f"trained with {expected}, the environment has"):
            controller.reset(env)
        env.close()
    assert evaluate(controller, config.env, [0])["mean"]["mean_delay"] > 0  # its own sensing runs


def test_a_crafted_sensing_record_is_one_error_line_naming_the_policy_file(tmp_path):
    from ernie_traffic.runs import save_torch

    run = RunDirectory(train(tiny_config(tmp_path, episodes=1, reg="none", validation_episodes=0)).run_dir)
    record = load_torch(run.policy)
    for sensing in ("__import__('os')", {"detector_length": 100.0}, {**record["sensing"], "max_green": [60]}):
        save_torch(run.policy, {**record, "sensing": sensing})
        with pytest.raises(
            UserInputError, match=rf"^{run.policy}: policy 'sensing' must map detector_length"
        ):
            load_controller(run.path)
    save_torch(run.policy, {**record, "sensing": None})  # recorded before policies kept their sensing
    assert load_controller(run.path).sensing is None


def test_config_round_trips_through_yaml(tmp_path):
    config = tiny_config(tmp_path, algo="coma", reg="gaussian", seed=7, name="x")
    config.regularizer.weight = 0.25
    path = save_config(config, tmp_path / "config.yaml")
    assert load_config(TrainConfig, path) == config
    toml = tmp_path / "c.toml"
    toml.write_text('algo = "coma"\nepisodes = 4\n[regularizer]\nmode = "plain"\n')
    loaded = load_config(TrainConfig, toml, episodes=9)
    assert (loaded.algo, loaded.episodes, loaded.regularizer.mode) == ("coma", 9, "plain")


def test_wrong_field_types_are_one_line_each(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("episodes: many\nqcombo:\n  lr: fast\nreg: adversarial\n")
    with pytest.raises(UserInputError) as info:
        load_config(TrainConfig, bad)
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    assert any(line.startswith(f"{bad}: episodes:") for line in lines)
    assert any(line.startswith(f"{bad}: qcombo.lr:") for line in lines)
    assert any("reg:" in line and "'ernie-a'" in line for line in lines)


def test_ernie_a_keeps_a_consistency_weight_that_carries_it_to_the_policy(tmp_path):
    assert load_config(TrainConfig, None).qcombo.consistency_weight == 0.0
    ernie_a = load_config(TrainConfig, None, reg="ernie-a")
    assert ernie_a.qcombo.consistency_weight == 1.7
    assert load_config(TrainConfig, save_config(ernie_a, tmp_path / "a.yaml")) == ernie_a
    zero = tmp_path / "zero.yaml"
    zero.write_text("reg: ernie-a\nqcombo: {consistency_weight: 0}\n")
    with pytest.raises(UserInputError, match="consistency_weight > 0") as info:
        load_config(TrainConfig, zero)
    assert len(str(info.value).splitlines()) == 1


def test_seeds_train_in_parallel_processes_and_aggregate(tmp_path):
    from ernie_traffic.training.seeds import train_seeds

    config = tiny_config(tmp_path, episodes=1, reg="none", eval_episodes=1, baselines=["fixed-time"])
    parent, results, aggregate = train_seeds(config, [0, 1], workers=2)
    assert parent == tmp_path / "grid2x2-qcombo-none"
    assert [r.run_dir.name for r in results] == ["seed0", "seed1"]
    assert (parent / "aggregate.json").is_file()
    delays = [r.evaluation["learned"]["mean"]["mean_delay"] for r in results]
    summary = aggregate["controllers"]["learned"]["mean_delay"]
    assert summary["mean"] == pytest.approx(sum(delays) / 2)
    assert summary["std"] == pytest.approx(abs(delays[0] - delays[1]) / 2)
    assert aggregate["seeds"] == [0, 1]
