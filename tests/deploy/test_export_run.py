"""`ernie-traffic export` on a real (tiny) trained 2×2-grid run, then the exported bundle driven
from SUMO's detector readings reproduces the trained controller's actions exactly."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from ernie_deploy.bundle import BundleError, load_bundle
from ernie_deploy.runtime import ControllerRuntime
from side_by_side import drive_side_by_side

from ernie_traffic.controllers.learned import load_controller
from ernie_traffic.envs.traffic import TrafficEnvConfig, TrafficSignalEnv
from ernie_traffic.training.config import TrainConfig
from ernie_traffic.training.loop import train

EPISODE_SECONDS = 300


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("runs")
    config = TrainConfig(
        env=TrafficEnvConfig(network="grid2x2", episode_seconds=EPISODE_SECONDS),
        episodes=1,
        eval_episodes=0,
        reg="none",
        out_dir=out,
        name="tiny",
    )
    return train(config).run_dir


def export_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ernie_traffic", "export", *args], capture_output=True, text=True, check=False
    )


def test_export_cli_writes_a_bundle_that_reproduces_the_trained_controller(trained_run, tmp_path):
    bundle_dir = tmp_path / "bundle"
    result = export_cli(str(trained_run), "--out", str(bundle_dir), "--simplify")
    assert result.returncode == 0, result.stderr
    parity_lines = [line for line in result.stdout.splitlines() if line.startswith("parity ")]
    assert len(parity_lines) == 4 and all(line.endswith("-> ok") for line in parity_lines), result.stdout

    bundle = load_bundle(bundle_dir, network="grid2x2")
    assert bundle.training["algo"] == "qcombo"
    controller = load_controller(trained_run)
    env = TrafficSignalEnv(TrafficEnvConfig(network="grid2x2", episode_seconds=EPISODE_SECONDS))
    try:
        controller.reset(env)
        chosen = drive_side_by_side(env, ControllerRuntime(bundle), controller.act, seed=7, decisions=60)
    finally:
        env.close()
    assert len(chosen) == 4 * 60
    assert len(set(chosen)) > 1, "the controller never changed its choice: the comparison would be vacuous"


def test_export_cli_refuses_a_folder_that_is_not_a_run(tmp_path):
    result = export_cli(str(tmp_path), "--out", str(tmp_path / "bundle"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "not a training run directory" in result.stderr


def test_export_cli_refuses_a_non_empty_output_folder(trained_run, tmp_path):
    (tmp_path / "something").write_text("x")
    result = export_cli(str(trained_run), "--out", str(tmp_path))
    assert result.returncode == 2
    assert "is not empty" in result.stderr


def test_export_cli_signs_the_manifest_with_the_operators_key(trained_run, tmp_path):
    keys = tmp_path / "keys"
    made = subprocess.run(
        [sys.executable, "-m", "ernie_traffic", "deploy", "keygen", "--out", str(keys)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    private, public = keys / "bundle-signing.key", keys / "bundle-signing.pub"
    bundle_dir = tmp_path / "bundle"
    quick = ["--record-steps", "20", "--random", "50"]
    result = export_cli(str(trained_run), "--out", str(bundle_dir), *quick, "--sign-key", str(private))
    assert result.returncode == 0, result.stderr
    assert "manifest signed by key" in result.stdout
    assert not any("PRIVATE" in p.read_text(errors="ignore") for p in bundle_dir.iterdir())
    assert load_bundle(bundle_dir, trust_key=public).network == "grid2x2"
    manifest = bundle_dir / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"yellow_time": 3.0', b'"yellow_time": 0.5', 1))
    with pytest.raises(BundleError, match="altered after signing"):
        load_bundle(bundle_dir, trust_key=public)
    # A key that cannot sign is refused in one line before any export work.
    other = tmp_path / "other"
    refused = export_cli(str(trained_run), "--out", str(other), *quick, "--sign-key", str(public))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith(f"error: {public}: ") and not other.exists()


def test_evaluate_takes_an_exported_bundle_beside_its_run_and_a_classical_controller(trained_run, tmp_path):
    """One resolver for every command: `evaluate` drives the bundle on the network it was trained on,
    and the bundle decides exactly as the run it was exported from."""
    bundle_dir, results_file = tmp_path / "bundle", tmp_path / "results.json"
    exported = export_cli(
        str(trained_run), "--out", str(bundle_dir), "--record-steps", "20", "--random", "50"
    )
    assert exported.returncode == 0, exported.stderr
    evaluated = subprocess.run(
        [sys.executable, "-m", "ernie_traffic", "evaluate", str(bundle_dir), str(trained_run), "fixed-time",
         "--episodes", "1", "--output", str(results_file)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr
    assert "evaluation on grid2x2" in evaluated.stdout
    results = json.loads(results_file.read_text())
    bundle, run = results["qcombo (bundle)"], results[f"qcombo ({trained_run.name})"]
    assert results["fixed-time"]["mean"]["throughput"] > 0
    assert bundle["mean"] == run["mean"]
    assert bundle["mean"]["mean_delay"] != results["fixed-time"]["mean"]["mean_delay"]
