"""A stress sweep stopped by SIGTERM or Ctrl-C (SIGINT) ends its worker processes at once, prints no
traceback, keeps the cells it finished, and resumes to the results of an uninterrupted sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from process_tree import descendants, running

from ernie_traffic.utils.io import read_jsonl

PLAN = """\
seeds: [0, 1]
horizon: 120
families:
  - {name: speed, perturbation: speed_factor, levels: [0.5], nominal: 0}
"""
CELLS = 4  # fixed-time x (baseline + one level) x two seeds


def sweep_command(out: str) -> list[str]:
    return [sys.executable, "-m", "ernie_traffic", "stress-test", "-c", "fixed-time", "--plan", "plan.yaml",
            "--out", out, "--workers", "2", "--no-report"]  # fmt: skip


def interrupted_sweep(tmp_path: Path, signum: int) -> tuple[int, str, list[int]]:
    """Start the sweep, send ``signum`` once the first cell is recorded; (exit code, stderr, workers)."""
    sweep = subprocess.Popen(sweep_command("sweep"), cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        first = sweep.stderr.readline()
        assert first.startswith(f"[1/{CELLS}]"), first
        workers = descendants(sweep.pid)
        assert workers, "the sweep runs no worker processes"
        sweep.send_signal(signum)
        _, rest = sweep.communicate(timeout=20)
        return sweep.returncode, first + rest, workers
    finally:
        sweep.kill()
        for pid in workers:  # leave nothing behind, whatever the test found
            if running(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def plan_dir(tmp_path: Path) -> Path:
    (tmp_path / "plan.yaml").write_text(PLAN)
    return tmp_path


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_sweep_ends_its_workers_promptly_without_a_traceback(plan_dir, signum):
    code, stderr, workers = interrupted_sweep(plan_dir, signum)
    stopped = time.monotonic()
    while any(running(pid) for pid in workers) and time.monotonic() - stopped < 3:
        time.sleep(0.1)
    assert not [pid for pid in workers if running(pid)], "workers outlived the sweep"
    assert code == 130, stderr
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert "interrupted:" in stderr and "run the same command again to resume" in stderr
    finished = read_jsonl(plan_dir / "sweep" / "results.jsonl")
    assert 1 <= len(finished) < CELLS


@pytest.mark.slow
def test_a_terminated_sweep_resumes_to_the_uninterrupted_results(plan_dir):
    code, stderr, _ = interrupted_sweep(plan_dir, signal.SIGTERM)
    assert code == 130, stderr
    results = plan_dir / "sweep" / "results.jsonl"
    kept = results.read_text()
    finished = read_jsonl(results)
    resumed = subprocess.run(sweep_command("sweep"), cwd=plan_dir, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert results.read_text().startswith(kept)  # the finished cells are kept, not run again
    assert f"{CELLS - len(finished)} cell(s) run, 0 failed" in resumed.stderr
    whole = subprocess.run(sweep_command("whole"), cwd=plan_dir, capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr
    metrics = {r["key"]: r["metrics"] for r in read_jsonl(plan_dir / "whole" / "results.jsonl")}
    assert {r["key"]: r["metrics"] for r in read_jsonl(results)} == metrics
