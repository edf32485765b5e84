"""End to end: a tiny sweep through the process pool and Ray, its report, resume, validation."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pytest
from stress_helpers import tiny_sweep

from ernie_traffic.errors import UserInputError
from ernie_traffic.stress import (
    DEFAULT_PLAN,
    Family,
    StressPlan,
    Sweep,
    expand_cells,
    run_sweep,
    validate_sweep,
)
from ernie_traffic.stress.cells import TrafficCell, env_config_for, run_cell
from ernie_traffic.stress.report import write_report
from ernie_traffic.stress.runner import ray_session, run_cells
from ernie_traffic.stress.sweep import RESULTS_FILE, SWEEP_FILE
from ernie_traffic.utils.config_files import save_or_match_config
from ernie_traffic.utils.io import read_jsonl


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    records = run_sweep(tiny_sweep(), out, backend="process", workers=2)
    return out, records


def by_cell(records):
    return {(r["controller"], r["family"], r["level"], r["seed"]): r["metrics"] for r in records}


def test_tiny_sweep_runs_every_cell_once(swept):
    out, records = swept
    assert len(records) == 2 * 3 * 2  # controllers x (baseline + 2 levels) x seeds
    assert all(r["status"] == "ok" and r["attempts"] == 1 for r in records)
    assert {r["key"] for r in read_jsonl(out / RESULTS_FILE)} == {r["key"] for r in records}
    metrics = records[0]["metrics"]
    for name in ("mean_delay", "mean_travel_time", "mean_waiting_time", "throughput", "unfinished"):
        assert np.isfinite(metrics[name])
    assert metrics["throughput"] > 0


def test_resumed_sweep_reruns_nothing(swept):
    out, _ = swept
    before = (out / RESULTS_FILE).read_bytes()
    assert run_sweep(tiny_sweep(), out, backend="process", workers=2) == []
    assert (out / RESULTS_FILE).read_bytes() == before


def test_stronger_speed_reduction_lengthens_fixed_time_travel(swept):
    _, records = swept
    cells = by_cell(records)

    def travel(family, level):
        return np.mean([cells[("fixed-time", family, level, s)]["mean_travel_time"] for s in (0, 1)])

    assert travel("baseline", None) < travel("speed", 0.5) < travel("speed", 1.0)


def test_report_shows_the_measured_numbers(swept):
    out, records = swept
    html_path, md_path = write_report(out)
    html, md = html_path.read_text(), md_path.read_text()
    cells = by_cell(records)
    for controller in ("fixed-time", "max-pressure"):
        for family, level in (("baseline", None), ("speed", 0.5), ("speed", 1.0)):
            values = [cells[(controller, family, level, s)]["mean_travel_time"] for s in (0, 1)]
            shown = f"{np.mean(values):.2f} ± {np.std(values):.2f}"
            assert shown in html and shown in md
    # The ranking orders controllers by mean delay over the perturbed cells.
    delay = {
        c: np.mean([m["mean_delay"] for (cc, f, _, _), m in cells.items() if cc == c and f != "baseline"])
        for c in ("fixed-time", "max-pressure")
    }
    ranking = re.findall(r"<tr><td>(\d)</td><td>([\w-]+)</td>", html)
    assert [name for _, name in ranking] == sorted(delay, key=delay.get)
    # Self-contained: two embedded PNG plots (levels, percentiles), no external resource.
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    assert len(images) == 2
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "http://" not in html and "https://" not in html
    assert (out / "report_figures" / "speed_levels.png").is_file()
    assert "ernie-traffic" in html and "seeds" in html  # provenance: command, versions, seeds


def test_bad_plan_is_rejected_before_any_simulation(tmp_path):
    plan = StressPlan(
        seeds=[0],
        families=[
            Family(name="wind", perturbation="crosswind", levels=[0.5]),
            Family(name="speed", perturbation="speed_factor", levels=[0.5, 1.5]),
            Family(name="topology", perturbation="network", levels=["grid9x9"]),
        ],
    )
    sweep = Sweep(network="grid2x2", controllers=["fixed-time", "greedy"], plan=plan)
    with pytest.raises(UserInputError) as excinfo:
        run_sweep(sweep, tmp_path / "out")
    lines = str(excinfo.value).splitlines()
    assert any("unknown perturbation 'crosswind'" in line for line in lines)
    assert any("speed_factor level 1.5" in line for line in lines)
    assert any("grid9x9" in line for line in lines)
    assert any(line.startswith("greedy: not a classical controller") for line in lines)
    assert len(lines) == 4
    assert not (tmp_path / "out").exists()


def test_learned_controller_for_another_network_is_rejected(tmp_path, untrained_run):
    sweep = tiny_sweep(network="grid3x3", controllers=[str(untrained_run)])
    with pytest.raises(UserInputError, match="intersections differ from network 'grid3x3'"):
        run_sweep(sweep, tmp_path / "out")


@pytest.mark.slow  # Ray's start-up alone takes ~10 s
def test_ray_backend_gives_the_process_pool_results_and_retries_crashes(swept, tmp_path):
    pytest.importorskip("ray")
    from test_stress_runner import attempt_cell, cells

    _, pool_records = swept
    with ray_session(workers=2):
        ray_records = run_sweep(tiny_sweep(), tmp_path / "sweep", backend="ray", workers=2)
        crashes = run_cells(cells(tmp_path, ["crash_once", "crash_always"]), tmp_path / "crashes.jsonl",
                            attempt_cell, backend="ray")  # fmt: skip
    assert len(ray_records) == len(pool_records)
    assert by_cell(ray_records) == by_cell(pool_records)  # same seeds, same simulations
    write_report(tmp_path / "sweep")
    assert json.loads((tmp_path / "sweep" / "provenance.json").read_text())[0]["backend"] == "ray"
    outcome = {r["key"]: (r["status"], r["attempts"]) for r in crashes}
    assert outcome == {"cell0": ("ok", 2), "cell1": ("failed", 2)}


def test_cli_rejects_a_bad_plan_file_with_one_line_per_problem(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("families:\n  - {name: speed, perturbation: speed_factor, levels: [2.0]}\n")
    result = subprocess.run(
        [sys.executable, "-m", "ernie_traffic", "stress-test", "-c", "fixed-time", "--plan", str(plan),
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: family 'speed': speed_factor level 2.0: Input should be less than or equal to 1"
    )


def test_cli_report_writes_html_and_markdown(swept):
    out, _ = swept
    result = subprocess.run(
        [sys.executable, "-m", "ernie_traffic", "report", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(out / "report.html"), str(out / "report.md")]


def test_built_in_plan_is_valid_for_classical_and_learned_controllers(untrained_run):
    sweep = Sweep(network="grid2x2", controllers=["fixed-time", str(untrained_run)], plan=DEFAULT_PLAN)
    validate_sweep(sweep)
    cells = expand_cells(sweep)
    families = {f.name: len(f.levels) for f in DEFAULT_PLAN.families}
    per_seed = {"fixed-time": 1 + sum(families.values()) - families["observation_attack"],
                str(untrained_run): 1 + sum(families.values())}  # fmt: skip
    for controller, count in per_seed.items():
        assert sum(c.controller == controller for c in cells) == count * len(DEFAULT_PLAN.seeds)
    assert len({c.key for c in cells}) == len(cells)


def test_turning_mix_cell_drives_a_redrawn_demand(tmp_path):
    plan = StressPlan(seeds=[0], horizon=300, families=[
        Family(name="left", perturbation="turning_mix", levels=[4.0], params={"turn": "left"}, nominal=1)
    ])  # fmt: skip
    base, turned = (c for c in expand_cells(tiny_sweep(controllers=["fixed-time"], plan=plan)))
    assert turned.perturbation == "turning_mix"
    config = env_config_for(turned, tmp_path)
    assert config.network.endswith("grid2x2_turns.net.xml") and config.route_files
    assert run_cell(base) != run_cell(turned)


@dataclass(frozen=True)
class DoomedCell(TrafficCell):
    """A traffic cell that test_stress_runner's attempt_cell runs instead of a simulation."""

    behaviour: str
    log: str


def test_report_lists_a_crashed_cell_and_the_cells_not_yet_run(tmp_path):
    from test_stress_runner import attempt_cell

    sweep = tiny_sweep()
    save_or_match_config(sweep, tmp_path / SWEEP_FILE, "sweep")
    first = expand_cells(sweep)[0]
    doomed = DoomedCell(**asdict(first), behaviour="crash_always", log=str(tmp_path / "attempts.log"))
    run_cells([doomed], tmp_path / RESULTS_FILE, attempt_cell, workers=1)
    html_path, md_path = write_report(tmp_path)
    # Markdown tables escape the key's "|" separators.
    for text, key in (
        (html_path.read_text(), first.key),
        (md_path.read_text(), first.key.replace("|", "\\|")),
    ):
        assert "1 failed cell(s); 11 cell(s) not yet run." in text
        assert key in text and "worker process died (exit code 17)" in text


def test_speed_swept_by_value_on_both_sides_of_nominal(tmp_path):
    plan = StressPlan(seeds=[0], horizon=300, families=[
        Family(name="speed", perturbation="speed_factor", scale="value", levels=[0.6, 1.4], nominal=1)
    ])  # fmt: skip
    sweep = tiny_sweep(controllers=["fixed-time"], plan=plan)
    validate_sweep(sweep)
    base, slow, fast = expand_cells(sweep)
    assert (slow.params, fast.params) == ({"factor": 0.6}, {"factor": 1.4})
    travel = {c.key: run_cell(c)["mean_travel_time"] for c in (base, slow, fast)}
    assert travel[fast.key] < travel[base.key] < travel[slow.key]
    bad = tiny_sweep(plan=plan.model_copy(update={"families": [
        Family(name="noise", perturbation="observation_noise", scale="value", levels=[-0.1]),
        Family(name="broken", perturbation="detector_failure", scale="value", levels=[1.5]),
    ]}))  # fmt: skip
    with pytest.raises(UserInputError) as excinfo:
        validate_sweep(bad)
    assert str(excinfo.value).splitlines() == [
        "family 'noise': observation_noise: sigma = -0.1 is out of range",
        "family 'broken': detector_failure: fraction = 1.5 is out of range",
    ]


def test_plan_traffic_settings_reach_every_cell_and_cell_fields_are_refused():
    plan = StressPlan.model_validate(
        {
            "seeds": [0],
            "traffic": {"detector_length": None, "yellow_time": 4},
            "families": [{"name": "noise", "perturbation": "observation_noise", "levels": [0.5]}],
        }
    )
    cells = expand_cells(Sweep(network="grid2x2", controllers=["max-pressure"], plan=plan))
    configs = [env_config_for(cell, Path(".")) for cell in cells]
    assert [(c.detector_length, c.yellow_time) for c in configs] == [(None, 4.0)] * 2
    assert [len(c.perturbations) for c in configs] == [0, 1]
    for traffic, problem in (
        ({"network": "grid3x3"}, "network are set by each cell"),
        ({"detector_lenght": 50}, "detector_lenght"),
        ({"detector_length": -1}, "greater than 0"),
    ):
        with pytest.raises(ValueError, match=problem):
            StressPlan.model_validate({"traffic": traffic, "families": plan.model_dump()["families"]})
