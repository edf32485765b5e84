"""Run files hold tensors and plain data only: a crafted ``policy.pt`` / ``checkpoint.pt`` whose
pickle would run code is refused with one ``error:`` line by every command that reads run files,
and nothing in it runs. A checkpoint of another structure is one error line too."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ernie_traffic.training.config import TrainConfig
from ernie_traffic.training.loop import train


class RunsCode:
    """Unpickling this calls ``os.system``: what a hostile run file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A real one-episode run directory (checkpoint.pt and policy.pt) on the 2×2 grid."""
    out = tmp_path_factory.mktemp("runs")
    config = TrainConfig.model_validate(
        {
            "env": {"network": "grid2x2", "episode_seconds": 120},
            "episodes": 1,
            "eval_episodes": 0,
            "reg": "none",
            "out_dir": str(out),
            "qcombo": {"hidden": [16], "learning_starts": 10, "batch_size": 8},
        }
    )
    return train(config, out / "run").run_dir


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-m", "ernie_traffic", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
        timeout=300,
    )


def craft(path: Path, marker: Path, zipped: bool) -> None:
    """A run file whose loading would create ``marker``: torch's own format, or a bare pickle."""
    payload = {"format": 1, "episode": 1, "state_dict": RunsCode(marker)}
    if zipped:
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))


def assert_one_error_line(result: subprocess.CompletedProcess[str], path: Path, problem: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}: "), lines[0]
    assert problem in lines[0], lines[0]


COMMANDS = {
    "evaluate": ("evaluate", "{run}", "--episodes", "1"),
    "export": ("export", "{run}", "--out", "bundle"),
    "resume": ("train", "--resume", "{run}", "--quiet"),
    "stress-test": ("stress-test", "-c", "{run}", "--out", "sweep", "--seeds", "0", "--horizon", "60"),
}


@pytest.mark.parametrize(
    ("file", "command", "zipped"),
    [
        ("policy.pt", "evaluate", True),
        ("policy.pt", "export", False),
        ("policy.pt", "stress-test", True),
        ("checkpoint.pt", "resume", True),
        ("checkpoint.pt", "resume", False),
        ("checkpoint.pt", "evaluate", True),  # without a policy.pt, evaluate reads the checkpoint's
    ],
)
def test_a_crafted_run_file_is_refused_and_runs_nothing(trained_run, tmp_path, file, command, zipped):
    run = shutil.copytree(trained_run, tmp_path / "run")
    marker = tmp_path / "MARKER"
    if file == "checkpoint.pt" and command == "evaluate":
        (run / "policy.pt").unlink()
    craft(run / file, marker, zipped)
    # the crafted file does what it says when loaded the old way: the test would see it run
    if zipped:
        torch.load(run / file, weights_only=False)
        assert marker.exists()
        marker.unlink()

    result = run_cli(*(arg.format(run=run) for arg in COMMANDS[command]), cwd=tmp_path)

    assert not marker.exists()
    problem = "it names the Python object posix.system" if zipped else "not a torch file of tensors"
    assert_one_error_line(result, run / file, f"cannot read checkpoint: {problem}")


def test_resume_from_a_checkpoint_of_another_structure_is_one_error_line(trained_run, tmp_path):
    run = shutil.copytree(trained_run, tmp_path / "run")
    torch.save({"weights": torch.zeros(3)}, run / "checkpoint.pt")
    result = run_cli("train", "--resume", str(run), "--quiet", cwd=tmp_path)
    assert_one_error_line(result, run / "checkpoint.pt", "not an ernie-traffic checkpoint.pt: no 'episode'")

    torch.save([1, 2, 3], run / "checkpoint.pt")
    result = run_cli("train", "--resume", str(run), "--quiet", cwd=tmp_path)
    assert_one_error_line(result, run / "checkpoint.pt", "holds a list, not a dict")


def test_a_policy_of_another_structure_is_one_error_line(trained_run, tmp_path):
    run = shutil.copytree(trained_run, tmp_path / "run")
    record = torch.load(run / "policy.pt", weights_only=True)
    record["hidden"] = [64]  # the saved weights are of a 16-unit network
    torch.save(record, run / "policy.pt")
    result = run_cli("evaluate", str(run), "--episodes", "1", cwd=tmp_path)
    assert_one_error_line(result, run / "policy.pt", "policy does not build its network")
