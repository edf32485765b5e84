"""Training with rollout workers: deterministic, resumable, stopped cleanly, refused for COMA."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from process_tree import descendants, running
from test_runs import Killed, kill_after, tiny_config, without_timing

from ernie_traffic.errors import UserInputError
from ernie_traffic.runs import RunDirectory, load_torch
from ernie_traffic.training.loop import train


def two_worker_config(tmp_path):
    return tiny_config(tmp_path, episodes=5, reg="ernie", rollout_workers=2)


@pytest.fixture(scope="module")
def whole_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("rollouts")
    return train(two_worker_config(tmp_path), tmp_path / "whole")


def same_policy(a, b) -> bool:
    a, b = (load_torch(RunDirectory(r.run_dir).policy)["state_dict"] for r in (a, b))
    return all(torch.equal(a[k], b[k]) for k in a)


def test_two_workers_give_the_same_numbers_twice(whole_run, tmp_path):
    again = train(two_worker_config(tmp_path), tmp_path / "again")

    assert without_timing(again.metrics) == without_timing(whole_run.metrics)
    assert same_policy(again, whole_run)
    assert [r["episode"] for r in again.metrics] == [0, 1, 2, 3, 4]  # one record per episode
    assert all("validation_delay" in r for r in again.metrics)  # every episode's policy validated
    assert len({r["return"] for r in again.metrics}) > 1  # the episodes differ: they are not copies


def test_a_killed_two_worker_run_resumes_to_the_uninterrupted_numbers(whole_run, tmp_path):
    config = two_worker_config(tmp_path)
    with pytest.raises(Killed):  # after the first round's checkpoint, its second round already playing
        train(config, tmp_path / "killed", on_episode=kill_after(1))
    resumed = train(config, tmp_path / "killed", resume=True)

    assert without_timing(resumed.metrics) == without_timing(whole_run.metrics)
    assert same_policy(resumed, whole_run)


def test_coma_refuses_rollout_workers_naming_the_option(tmp_path):
    config = tiny_config(tmp_path, algo="coma", rollout_workers=2)
    with pytest.raises(
        UserInputError, match=r"^rollout_workers 2 \(--rollout-workers\): coma learns on-policy"
    ):
        train(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_a_terminated_run_ends_its_workers_without_a_traceback(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(
        "episodes = 40\neval_episodes = 0\nrollout_workers = 2\n"
        "[env]\nepisode_seconds = 120\n[qcombo]\nhidden = [16]\nlearning_starts = 10\n"
    )
    command = [sys.executable, "-m", "ernie_traffic", "train", "--config", str(config), "--reg", "none"]
    metrics = tmp_path / "runs" / "grid2x2-qcombo-none-seed0" / "metrics.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.Popen([*command, "--quiet"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)  # fmt: skip
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not (metrics.is_file() and metrics.read_text()) and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = descendants(run.pid)
        assert len(workers) >= 2, "the run has no rollout workers"
        run.send_signal(signal.SIGTERM)
        stdout, stderr = run.communicate(timeout=20)
        stopped = time.monotonic()
        while any(running(pid) for pid in workers) and time.monotonic() - stopped < 3:
            time.sleep(0.1)
        assert not [pid for pid in workers if running(pid)], "workers outlived the run"
        assert run.returncode == 130, stderr
        assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
        assert "interrupted; continue with: ernie-traffic train --resume" in stdout
    finally:
        run.kill()
        for pid in workers:  # leave nothing behind, whatever the test found
            if running(pid):
                os.kill(pid, signal.SIGKILL)
