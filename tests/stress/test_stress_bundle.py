"""Exported controller bundles as stress-test controllers, beside the run directory they came from."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict

import pytest
from stress_helpers import tiny_sweep

from ernie_traffic.errors import UserInputError
from ernie_traffic.stress import Family, StressPlan, expand_cells, run_sweep, validate_sweep
from ernie_traffic.stress.report import BUNDLE_LIPSCHITZ, write_report


def test_bundle_and_its_run_directory_give_identical_metrics(qcombo_run, qcombo_bundle, tmp_path):
    plan = StressPlan(
        seeds=[0],
        horizon=300,
        families=[Family(name="noise", perturbation="observation_noise", levels=[1.0])],
    )
    run, bundle = str(qcombo_run), str(qcombo_bundle)
    records = run_sweep(tiny_sweep(controllers=[run, bundle], plan=plan), tmp_path, workers=2)
    assert all(r["status"] == "ok" for r in records)
    metrics = {(r["controller"], r["family"]): r["metrics"] for r in records}
    assert len(metrics) == 4
    for family in ("baseline", "noise"):
        from_run = {k: v for k, v in metrics[(run, family)].items() if k != "lipschitz"}
        assert metrics[(bundle, family)] == from_run
    # Not vacuous: the sensor noise reached both policies and changed what they did.
    assert metrics[(bundle, "noise")] != metrics[(bundle, "baseline")]
    assert "lipschitz" in metrics[(run, "baseline")]  # measured on the torch policy only
    _, md_path = write_report(tmp_path)
    assert f"| {bundle} | {BUNDLE_LIPSCHITZ} |" in md_path.read_text()


def test_bundle_cell_decides_with_onnx_not_torch(qcombo_run, qcombo_bundle):
    malicious = Family(name="malicious", perturbation="malicious_agents", levels=[1.0])
    plan = StressPlan(seeds=[0], horizon=120, families=[malicious])
    cells = expand_cells(tiny_sweep(controllers=[str(qcombo_bundle), str(qcombo_run)], plan=plan))
    bundle_cell, run_cell = (c for c in cells if c.family == "malicious")
    assert bundle_cell.adversary == "min_q"  # the bundle's lowest-score adversary runs on ONNX too
    # The bundle's cell runs without torch ever imported; the run directory's torch policy, with a
    # tripwire (not a mock: any torch module that computes anything in that process raises), trips it.
    script = (
        "import json, sys\n"
        "if sys.argv[2] == 'tripwire':\n"
        "    import torch\n"
        "    def tripwire(*args, **kwargs):\n"
        "        raise RuntimeError('a torch module ran')\n"
        "    torch.nn.Module.__call__ = tripwire\n"
        "from ernie_traffic.stress.cells import TrafficCell, run_cell\n"
        "metrics = run_cell(TrafficCell(**json.loads(sys.argv[1])))\n"
        "print(json.dumps({'ort': 'onnxruntime' in sys.modules, 'torch': 'torch' in sys.modules,\n"
        "                  'throughput': metrics['throughput']}))\n"
    )

    def run(cell, mode):
        return subprocess.run(
            [sys.executable, "-c", script, json.dumps(asdict(cell)), mode],
            capture_output=True,
            text=True,
            check=False,
        )

    result = run(bundle_cell, "plain")
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome["ort"] and not outcome["torch"] and outcome["throughput"] > 0
    tripped = run(run_cell, "tripwire")
    assert tripped.returncode != 0 and "a torch module ran" in tripped.stderr


def test_bundle_is_validated_like_a_run_directory(qcombo_bundle, tmp_path):
    attack = Family(name="attack", perturbation="observation_attack", levels=[0.1])
    plan = StressPlan(seeds=[0], families=[attack])
    cells = expand_cells(tiny_sweep(controllers=[str(qcombo_bundle)], plan=plan))
    assert [c.family for c in cells] == ["baseline"]  # no gradients through ONNX: no attack cells

    with pytest.raises(UserInputError, match="intersections differ from network 'grid3x3'"):
        validate_sweep(tiny_sweep(network="grid3x3", controllers=[str(qcombo_bundle)]))

    tampered = tmp_path / "tampered"
    tampered.mkdir()
    for path in qcombo_bundle.iterdir():
        (tampered / path.name).write_bytes(path.read_bytes())
    onnx_file = next(tampered.glob("*.onnx"))
    onnx_file.write_bytes(onnx_file.read_bytes()[:-10])
    with pytest.raises(UserInputError) as excinfo:
        validate_sweep(tiny_sweep(controllers=["fixed-time", str(tampered)]))
    (line,) = str(excinfo.value).splitlines()
    assert onnx_file.name in line


def test_bundle_refuses_an_environment_with_other_detectors_or_decision_interval(qcombo_bundle):
    from ernie_traffic.controllers.bundled import load_bundle_controller
    from ernie_traffic.envs.traffic import TrafficEnvConfig, TrafficSignalEnv

    controller = load_bundle_controller(qcombo_bundle)
    for change, problem in (
        ({"detector_length": None}, "intersection .*'s detectors or max green differ"),
        ({"max_green": 40}, "intersection .*'s detectors or max green differ"),
        ({"decision_interval": 2}, "decides every 5 s, the environment every 2 s"),
    ):
        env = TrafficSignalEnv(TrafficEnvConfig(network="grid2x2", **change))
        with pytest.raises(UserInputError, match=problem):
            controller.reset(env)
        env.close()
    env = TrafficSignalEnv(TrafficEnvConfig(network="grid2x2"))  # the environment it was exported from
    controller.reset(env)
    env.close()
