"""``ernie-traffic lab``: train, resume and evaluate through the real CLI; bad input is one error line."""

import json
import subprocess
import sys


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ernie_traffic", "lab", *args], capture_output=True, text=True, check=False
    )


def test_meanfield_train_then_evaluate(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        "warmup_episodes: 2\nupdates_per_episode: 1\nenv:\n  max_cycles: 5\nalgorithm:\n  hidden: 8\n"
    )
    run_dir = tmp_path / "run"
    args = [
        "meanfield",
        "train",
        str(run_dir),
        "--config",
        str(config),
        "--learner",
        "ernie",
        "--n-agents",
        "4",
    ]
    trained = run_cli(*args, "--episodes", "3", "--quiet")
    assert trained.returncode == 0, trained.stderr
    assert "n_agents: 4" in (run_dir / "config.yaml").read_text()
    resumed = run_cli("meanfield", "train", str(run_dir), "--resume", "--quiet")
    assert resumed.returncode == 0, resumed.stderr

    evaluated = run_cli("meanfield", "evaluate", str(run_dir), "--noise", "0,0.2", "--episodes", "2")
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads((run_dir / "evaluation.json").read_text())
    assert [row["noise"] for row in result["noise_sweep"]] == [0.0, 0.2]


def test_bad_input_is_one_error_line(tmp_path):
    unknown = run_cli("particle", "train", str(tmp_path / "r"), "--learner", "ppo", "--episodes", "1")
    assert unknown.returncode == 2
    assert "ppo" in unknown.stderr and "Traceback" not in unknown.stderr

    missing = run_cli("particle", "evaluate", str(tmp_path / "nothing"))
    assert missing.returncode == 2
    assert "no checkpoint.pt" in missing.stderr

    bad_noise = run_cli("particle", "evaluate", str(tmp_path), "--noise", "a,b")
    assert bad_noise.returncode == 2 and "--noise" in bad_noise.stderr
