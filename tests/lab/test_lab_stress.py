"""``ernie-traffic lab stress``: lab runs through the stress test's results file, resume and report."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from ernie_traffic.errors import UserInputError
from ernie_traffic.lab.config import LabRunConfig
from ernie_traffic.lab.evaluate import episode_returns, random_policy_returns
from ernie_traffic.lab.stress import evaluation_env, lab_sweep
from ernie_traffic.lab.train import load_learner, train
from ernie_traffic.stress import Family, run_sweep, validate_sweep
from ernie_traffic.stress.report import write_report
from ernie_traffic.stress.sweep import RESULTS_FILE, load_sweep
from ernie_traffic.utils.io import read_jsonl

TINY = {
    "episodes": 6,
    "warmup_episodes": 2,
    "updates_per_episode": 1,
    "algorithm": {"hidden": 8, "batch_size": 16},
}


def tiny_run(root, name: str, n_agents: int = 3, learner: str = "maddpg"):
    config = LabRunConfig(learner=learner, env={"n_agents": n_agents, "max_cycles": 5}, **TINY)
    train(config, root / name, quiet=True)
    return root / name


def lab_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ernie_traffic", "lab", *args], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A MADDPG run and the random reference, noise σ 0.5 and attack ε 0.3, two seeds, through the CLI."""
    root = tmp_path_factory.mktemp("lab")
    run = tiny_run(root, "maddpg")
    out = root / "sweep"
    args = ["stress", str(run), "--out", str(out), "--noise", "0,0.5", "--attack", "0.3"]
    done = lab_cli(*args, "--episodes", "2", "--seeds", "0,1", "--workers", "2")
    assert done.returncode == 0, done.stderr
    return run, out, args


def cells(out):
    return {(r["controller"], r["family"], r["level"], r["seed"]): r for r in read_jsonl(out / RESULTS_FILE)}


def test_every_cell_is_recorded_once_with_the_lab_evaluations_numbers(swept):
    run, out, _ = swept
    records = cells(out)
    # run: baseline, noise, attack; random: baseline, noise (nothing to attack); two seeds each
    assert len(read_jsonl(out / RESULTS_FILE)) == len(records) == 2 * (3 + 2)
    assert all(r["status"] == "ok" for r in records.values())
    config, learner = load_learner(run)
    env = config.env.model_copy(update={"observation_noise": 0.5})
    noisy = episode_returns(learner, env, episodes=2, seed=1)
    assert records[(str(run), "observation_noise", 0.5, 1)]["metrics"]["episode_return"] == pytest.approx(
        noisy.mean()
    )
    floor = random_policy_returns(config.env, episodes=2, seed=0)
    assert records[("random", "baseline", None, 0)]["metrics"]["episode_return"] == pytest.approx(
        floor.mean()
    )
    clean = records[(str(run), "baseline", None, 0)]["metrics"]
    assert clean["lipschitz"] > 0 and np.isfinite(clean["episode_return"])
    assert ("random", "observation_attack", 0.3, 0) not in records


def test_rerun_resumes_only_the_missing_cells(swept, tmp_path):
    _, out, args = swept
    before = (out / RESULTS_FILE).read_bytes()
    again = lab_cli(*args, "--episodes", "2", "--seeds", "0,1", "--no-report")
    assert again.returncode == 0, again.stderr
    assert "0 cell(s) run" in again.stderr
    assert (out / RESULTS_FILE).read_bytes() == before

    # An interrupted sweep: the directory lost its last record; the same sweep reruns just that cell.
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("sweep.yaml", RESULTS_FILE):
        (copy / name).write_bytes((out / name).read_bytes())
    lines = before.decode().splitlines(keepends=True)
    (copy / RESULTS_FILE).write_text("".join(lines[:-1]))
    lost = json.loads(lines[-1])
    rerun = run_sweep(load_sweep(copy), copy, workers=1)
    assert [r["key"] for r in rerun] == [lost["key"]]
    assert rerun[0]["metrics"]["episode_return"] == pytest.approx(lost["metrics"]["episode_return"])


def test_changed_sweep_in_the_same_directory_is_refused(swept):
    *_, args = swept
    changed = lab_cli(*args, "--episodes", "3", "--seeds", "0,1")
    assert changed.returncode == 2 and "holds a different sweep" in changed.stderr


def test_report_renders_the_lab_families(swept):
    run, out, _ = swept
    html_path, md_path = write_report(out)
    html, md = html_path.read_text(), md_path.read_text()
    for text in (html, md):
        assert "particle simple_spread N=3" in text
        assert "Family: observation_noise" in text and "Family: observation_attack" in text
        assert "σ=0.5" in text and "ℓ2 ε=0.3" in text
        assert "episode_return (higher is better)" in text
    values = [
        r["metrics"]["episode_return"] for k, r in cells(out).items() if k[:3] == (str(run), "baseline", None)
    ]
    assert f"{np.mean(values):.2f} ± {np.std(values):.2f}" in md
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    assert len(images) == 4 and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert (out / "report_figures" / "observation_noise_levels.png").is_file()


def test_runs_that_do_not_fit_the_env_or_plan_are_rejected_before_any_cell(swept, tmp_path):
    run, _, _ = swept
    other = tiny_run(tmp_path, "n4", n_agents=4)
    with pytest.raises(UserInputError, match="n4: trained with observation/action sizes"):
        validate_sweep(lab_sweep([str(run), str(other)], [0.5], [], [0], 1))
    sweep = lab_sweep([str(run)], [0.5], [], [0], 1)
    sweep.plan.families.append(Family(name="speed", perturbation="speed_factor", levels=[0.5]))
    with pytest.raises(UserInputError, match="lab sweeps take observation_noise or observation_attack"):
        validate_sweep(sweep)
    missing = lab_cli(
        "stress", str(run), f"pooled={run},{tmp_path / 'nothing'}", "--out", str(tmp_path / "o")
    )
    assert missing.returncode == 2 and "no checkpoint.pt" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_pooled_runs_share_one_label_and_env_changes_are_evaluated(swept, tmp_path):
    run, _, _ = swept
    second = tiny_run(tmp_path, "maddpg-s1")
    pooled = f"maddpg={run},{second}"
    sweep = lab_sweep([pooled], [0.5], [], [0], 1, {"max_cycles": 3}, random_reference=False)
    assert evaluation_env(sweep.env).max_cycles == 3
    records = run_sweep(sweep, tmp_path / "out", workers=2)
    assert sorted((r["controller"], r["run"]) for r in records) == sorted(
        [(pooled, str(run)), (pooled, str(second))] * 2
    )
    md = write_report(tmp_path / "out")[1].read_text()
    # one line for both runs, labelled by the pool's label; its band spans the two runs
    assert re.search(r"\| maddpg \| unperturbed \| – \| -?[\d.]+ ± [\d.]+ \| 2 \|", md)
    assert "Stress report: maddpg on particle simple_spread N=3" in md
