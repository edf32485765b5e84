"""``ernie-traffic train`` and ``evaluate`` end to end in a subprocess, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys


def run_cli(*args: str, cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ernie_traffic", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def test_train_then_evaluate_from_the_command_line(tmp_path, monkeypatch):
    import os

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))
    config = tmp_path / "tiny.toml"
    config.write_text(
        'episodes = 1\neval_episodes = 1\nbaselines = ["fixed-time"]\n'
        "[env]\nepisode_seconds = 120\n[qcombo]\nhidden = [16]\nlearning_starts = 10\n"
    )
    trained = run_cli(
        "train", "--config", str(config), "--reg", "none", "--out", "runs", "--quiet", cwd=tmp_path
    )
    assert trained.returncode == 0, trained.stderr
    run_dir = tmp_path / "runs" / "grid2x2-qcombo-none-seed0"
    assert trained.stdout.strip().endswith(f"results: {run_dir.relative_to(tmp_path)}")
    assert set(json.loads((run_dir / "evaluation.json").read_text())) == {"learned", "fixed-time"}

    evaluated = run_cli(
        "evaluate", str(run_dir), "max-pressure", "--episodes", "1", "--output", "ev.json", cwd=tmp_path
    )
    assert evaluated.returncode == 0, evaluated.stderr
    results = json.loads((tmp_path / "ev.json").read_text())
    assert results["qcombo (grid2x2-qcombo-none-seed0)"]["mean"]["throughput"] > 0
    assert results["max-pressure"]["controller"] == "max-pressure"


def test_unknown_algorithm_is_one_error_line(tmp_path):
    result = run_cli("train", "--algo", "ppo", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: config: algo: Input should be 'qcombo' or 'coma'"]
