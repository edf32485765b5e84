"""``ernie-traffic study`` end to end on the shipped tiny study (2 recipes × 2 training seeds, 300 s
episodes, one demand family at two levels): training, stress test, report, resume, both backends."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ernie_traffic.errors import UserInputError
from ernie_traffic.runs import RunDirectory
from ernie_traffic.stress.sweep import PROVENANCE_FILE, RESULTS_FILE
from ernie_traffic.study import Budget, load_study, run_study
from ernie_traffic.study.config import STUDIES_DIR
from ernie_traffic.study.run import (
    STUDY_FILE,
    TRAININGS_FILE,
    study_sweep,
    train_cell,
    training_cells,
    validate_study,
)
from ernie_traffic.utils.config_files import save_or_match_config
from ernie_traffic.utils.io import read_jsonl

RUNS = [("QCOMBO", 0), ("QCOMBO", 1), ("ERNIE", 0), ("ERNIE", 1)]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ernie_traffic", *args], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def studied(tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "tiny"
    return out, cli("study", "tiny", "--out", str(out), "--workers", "2")


def outcomes(out: Path) -> dict[tuple, dict]:
    """Each stress cell's metrics by (line, training seed or None, family, level, evaluation seed)."""
    cells = {}
    for r in read_jsonl(out / RESULTS_FILE):
        path = Path(r["controller"])
        run = (
            (path.parent.name, int(path.name.removeprefix("seed")))
            if path.is_absolute()
            else (path.name, None)
        )
        cells[(*run, r["family"], r["level"], r["seed"])] = r["metrics"]
    return cells


def test_tiny_study_trains_every_run_stresses_them_and_reports(studied):
    out, first = studied
    assert first.returncode == 0, first.stderr
    trainings = {r["key"]: r for r in read_jsonl(out / TRAININGS_FILE)}
    assert set(trainings) == {f"{recipe}|seed{seed}" for recipe, seed in RUNS}
    assert all(r["status"] == "ok" and r["attempts"] == 1 for r in trainings.values())
    for recipe, seed in RUNS:
        run = RunDirectory(out / "runs" / recipe / f"seed{seed}")
        assert run.policy.is_file() and run.load_checkpoint()["episode"] == 1
        assert run.load_checkpoint()["reg"] == {"QCOMBO": "none", "ERNIE": "ernie"}[recipe]
    cells = outcomes(out)
    assert len(cells) == (4 + 1) * 3  # (runs + max-pressure) × (baseline + 2 demand levels) × 1 seed
    assert {(line, seed) for line, seed, *_ in cells} == {*RUNS, ("max-pressure", None)}
    # more demand, longer delays for the classical controller
    delays = [cells[("max-pressure", None, f, x, 0)]["mean_delay"] for f, x in
              [("baseline", None), ("demand", 1.25), ("demand", 1.5)]]  # fmt: skip
    assert delays == sorted(delays) and delays[0] < delays[-1]

    html, md = (out / "report.html").read_text(), (out / "report.md").read_text()
    title = "Study tiny: 2 recipes × 2 training seeds beside max-pressure on grid2x2"
    assert f"<h1>{title}</h1>" in html and md.startswith(f"# {title}\n")
    verdict = md.split("## Verdict against QCOMBO")[1].split("\n## ")[0]
    rows = [line.split(" | ")[0].strip("| ") for line in verdict.splitlines() if line.startswith("| ")]
    assert rows[1:] == ["QCOMBO", "ERNIE", "max-pressure"]  # after the header: one line per recipe
    assert "report.html" in first.stderr


def test_running_the_study_again_recomputes_nothing(studied):
    out, _ = studied
    runs = [RunDirectory(out / "runs" / r / f"seed{s}") for r, s in RUNS]
    watched = [
        out / TRAININGS_FILE,
        out / RESULTS_FILE,
        *(f for run in runs for f in (run.checkpoint, run.policy)),
    ]
    before = {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in watched}
    again = cli("study", str(STUDIES_DIR / "tiny.yaml"), "--out", str(out), "--quiet")
    assert again.returncode == 0, again.stderr
    assert "0 training run(s) and 0 stress cell(s) run" in again.stderr
    assert {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in watched} == before


def test_a_killed_training_run_resumes_from_its_checkpoint(tmp_path):
    from ernie_traffic.training.config import TrainConfig
    from ernie_traffic.training.loop import train

    study = load_study("tiny")
    study.budget = Budget(episodes=2, episode_seconds=300)
    cell = training_cells(study, tmp_path)[0]
    run = RunDirectory(cell.run_dir)
    # What a run killed during its second episode leaves: the first episode's checkpoint and metrics.
    train(TrainConfig.model_validate({**cell.config, "episodes": 1}), run.path)
    run.policy.unlink()
    first_episode = run.read_metrics()
    assert train_cell(cell)["episodes"] == 2
    metrics = run.read_metrics()
    assert metrics[:1] == first_episode  # not trained again (same record, same wall time)
    assert [m["episode"] for m in metrics] == [0, 1]
    assert run.load_checkpoint()["episode"] == 2 and run.policy.is_file()


def test_another_study_in_the_same_directory_is_refused(studied):
    out, _ = studied
    study = load_study("tiny")
    study.seeds = [0]
    with pytest.raises(UserInputError, match="holds a different study"):
        save_or_match_config(study, out / STUDY_FILE, "study")


def test_bad_study_file_is_one_error_line_naming_file_and_field(tmp_path):
    text = (STUDIES_DIR / "tiny.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("ERNIE: {algo: qcombo, reg: ernie}", "ERNIE: {algo: qcombo, reg: erine}"))
    result = cli("study", str(bad), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}: recipes.ERNIE.reg: Input should be")
    assert not (tmp_path / "out").exists()

    def problems(old: str, new: str) -> str:
        bad.write_text(text.replace(old, new))
        with pytest.raises(UserInputError) as excinfo:
            load_study(bad)
        return str(excinfo.value)

    assert problems("reg: ernie}", "reg: ernie, settings: {episodes: 3}}") == (
        f"{bad}: recipes.ERNIE.settings.episodes: set by the study's budget"
    )
    assert (
        problems("qcombo: {hidden", "regularizer: {epsilon: -1}\n  qcombo: {hidden").count(
            "regularizer.epsilon: Input should be greater than 0"
        )
        == 2
    )  # once per recipe, each naming it
    assert "reference 'plain' is not a recipe" in problems("reference: QCOMBO", "reference: plain")
    with pytest.raises(UserInputError, match=r"no such study file, nor a shipped study .*grid2x2-paper"):
        load_study("grid9x9-paper")


def test_shipped_paper_study_is_the_papers_grid2x2_experiment():
    study = load_study("grid2x2-paper")
    validate_study(study)  # networks, families and levels are valid
    assert study.network == "grid2x2" and study.reference == "QCOMBO" and len(study.seeds) == 5
    recipes = {name: (r.algo, r.reg) for name, r in study.recipes.items()}
    assert recipes == {
        "QCOMBO": ("qcombo", "none"),
        "ERNIE": ("qcombo", "ernie"),
        "Baseline-Gaussian": ("qcombo", "gaussian"),
        "ERNIE-A": ("qcombo", "ernie-a"),
    }
    perturbations = {f.perturbation for f in study.stress.families}
    assert perturbations == {
        "speed_factor",
        "demand_scale",
        "lane_closure",
        "observation_noise",
        "malicious_agents",
    }
    assert {"actuated", "max-pressure", "fixed-time"} <= set(study.controllers)
    assert all(len(f.levels) >= 2 for f in study.stress.families)


@pytest.mark.slow  # Ray's start-up alone takes ~10 s
def test_ray_backend_runs_the_same_study(studied, tmp_path):
    pytest.importorskip("ray")
    out, _ = studied
    result = run_study(load_study("tiny"), tmp_path / "ray", backend="ray", workers=2)
    assert len(result.trainings) == 4 and len(result.cells) == 15 and not result.failed_trainings
    assert all(r["status"] == "ok" for r in result.trainings + result.cells)
    # same seeds, same training runs and simulations as the process pool
    pool = {r["key"]: r["metrics"] for r in read_jsonl(out / TRAININGS_FILE)}
    assert {r["key"]: r["metrics"] for r in result.trainings} == pool
    assert outcomes(tmp_path / "ray") == outcomes(out)
    assert result.report is not None and result.report[0].is_file()
    assert json.loads((tmp_path / "ray" / PROVENANCE_FILE).read_text())[0]["backend"] == "ray"
    again = run_study(load_study("tiny"), tmp_path / "ray", backend="ray", workers=2, report=False)
    assert again.trainings == [] and again.cells == []


def test_stress_cells_get_the_detectors_the_recipes_trained_on():
    """A study whose recipes train on whole-lane detectors stresses every controller with them (the
    plan's own ``traffic`` settings win), so a learned controller meets the sensors it learned."""
    from ernie_traffic.stress.cells import env_config_for
    from ernie_traffic.stress.sweep import expand_cells

    study = load_study("grid2x2-robustness")
    assert study.training["env"] == {"detector_length": None}
    cells = expand_cells(study_sweep(study, "unused"))
    assert {env_config_for(cell, Path(".")).detector_length for cell in cells} == {None}
    zoned = study.model_copy(
        update={"stress": study.stress.model_copy(update={"traffic": {"detector_length": 40}})}
    )
    assert zoned.stress_plan().traffic == {"detector_length": 40}
    assert load_study("grid2x2-zones").stress_plan().traffic == {}  # the default: 100 m zones


@pytest.mark.parametrize("name", sorted(path.stem for path in STUDIES_DIR.glob("*.yaml")))
def test_every_shipped_study_is_valid(name):
    validate_study(load_study(name))  # one UserInputError listing every problem, else None
