"""Run a study: train every recipe × seed, stress-test the runs beside the classical controllers,
write one report. The study's directory::

    <out>/study.yaml         the study (what a re-run checks: another study needs another --out)
    <out>/trainings.jsonl    one record per finished training run
    <out>/runs/<recipe>/seed<N>/   the training runs (``ernie-traffic train``'s run directories)
    <out>/sweep.yaml, results.jsonl, provenance.json   the stress sweep (``stress-test``'s directory)
    <out>/report.html, report.md, report_figures/      the report (``ernie-traffic report <out>``)

Both stages go through the stress runner (:func:`ernie_traffic.stress.runner.run_cells`): a training
run is a cell whose key is ``<recipe>|seed<N>``, so re-running the command skips finished runs and
cells, resumes a killed training run from its last checkpoint (``train --resume``), retries a failed
one once, and spreads both stages over the process pool or a Ray cluster.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ernie_traffic.stress.runner import Progress, finished_keys, ray_session, run_cells
from ernie_traffic.stress.sweep import RESULTS_FILE, Sweep, expand_cells, run_sweep, validate_sweep
from ernie_traffic.study.config import Study
from ernie_traffic.utils.config_files import build_config, save_or_match_config
from ernie_traffic.utils.io import read_jsonl

STUDY_FILE = "study.yaml"
TRAININGS_FILE = "trainings.jsonl"
RUNS_DIR = "runs"


def runs_dir(out: str | os.PathLike[str]) -> Path:
    """Absolute: run directories are the sweep's controllers, read by workers wherever they run."""
    return (Path(out) / RUNS_DIR).resolve()


def run_path(out: str | os.PathLike[str], recipe: str, seed: int) -> Path:
    """Where one training run of a study lives (what :meth:`Study.train_config` names it)."""
    return runs_dir(out) / recipe / f"seed{seed}"


@dataclass(frozen=True)
class TrainingCell:
    """One training run of a study: a recipe, a training seed, its run directory and full TrainConfig."""

    key: str
    recipe: str
    seed: int
    run_dir: str
    config: dict[str, Any]


def training_cells(study: Study, out: str | os.PathLike[str]) -> list[TrainingCell]:
    """One cell per recipe × training seed."""
    return [
        TrainingCell(
            key=f"{recipe}|seed{seed}",
            recipe=recipe,
            seed=seed,
            run_dir=str(run_path(out, recipe, seed)),
            config=study.train_config(recipe, seed, runs_dir(out)).model_dump(mode="json"),
        )
        for recipe in study.recipes
        for seed in study.seeds
    ]


def train_cell(cell: TrainingCell) -> dict[str, float]:
    """Train one run, from its last checkpoint when there is one (a killed run resumes); the metrics
    of its last training episode."""
    from ernie_traffic.runs import RunDirectory
    from ernie_traffic.training.config import TrainConfig
    from ernie_traffic.training.loop import train

    run = RunDirectory(cell.run_dir)
    result = train(TrainConfig.model_validate(cell.config), run.path, resume=run.checkpoint.is_file())
    last = result.metrics[-1]
    return {
        "episodes": float(len(result.metrics)),
        "return": last["return"],
        "mean_delay": last["mean_delay"],
    }


def study_sweep(study: Study, out: str | os.PathLike[str]) -> Sweep:
    """The stress sweep of a study: every training run, grouped by recipe, and the classical controllers."""
    groups = {recipe: [str(run_path(out, recipe, seed)) for seed in study.seeds] for recipe in study.recipes}
    runs = [run for members in groups.values() for run in members]
    beside = f" beside {', '.join(study.controllers)}" if study.controllers else ""
    title = (
        f"Study {study.name}: {len(study.recipes)} recipes × {len(study.seeds)} training seeds{beside}"
        f" on {study.network}"
    )
    fields = {
        "network": study.network,
        "controllers": [*runs, *study.controllers],
        "plan": study.stress_plan().model_dump(),
        "title": title,
        "groups": groups,
        "reference": study.reference,
    }
    return build_config(Sweep, fields, "study")


def validate_study(study: Study) -> None:
    """Check the network, the plan and the classical controllers before any training starts (the
    trained runs themselves are checked by the sweep once they exist)."""
    # The sweep's checks of networks and families need a controller; any classical one will do.
    controllers = list(study.controllers) or ["fixed-time"]
    fields = {"network": study.network, "controllers": controllers, "plan": study.stress_plan().model_dump()}
    validate_sweep(build_config(Sweep, fields, "study"))


@dataclass
class StudyResult:
    """What one invocation did: the training runs and stress cells it ran (not those found finished)."""

    trainings: list[dict[str, Any]] = field(default_factory=list)
    cells: list[dict[str, Any]] = field(default_factory=list)
    failed_trainings: list[dict[str, Any]] = field(default_factory=list)  # stop the study before stress
    report: tuple[Path, Path] | None = None


def run_study(
    study: Study,
    out: str | os.PathLike[str],
    backend: str = "process",
    workers: int = 2,
    address: str | None = None,
    command: list[str] | None = None,
    on_training: Progress | None = None,
    on_cell: Progress | None = None,
    report: bool = True,
) -> StudyResult:
    """Train what is not trained yet, stress-test what is not tested yet, write the report.

    A training run that fails twice stops the study before the stress test (the sweep needs every
    run); the next invocation tries it again.
    """
    validate_study(study)
    save_or_match_config(study, Path(out) / STUDY_FILE, "study")
    result = StudyResult()
    cells = training_cells(study, out)
    trainings = Path(out) / TRAININGS_FILE
    sweep = study_sweep(study, out)
    unfinished = {c.key for c in cells} - finished_keys(trainings) or {
        c.key for c in expand_cells(sweep)
    } - finished_keys(Path(out) / RESULTS_FILE)
    # One Ray session for both stages (a nested session is a no-op), and none when all is done.
    session = ray_session(workers, address) if backend == "ray" and unfinished else contextlib.nullcontext()
    with session:
        result.trainings = run_cells(cells, trainings, train_cell, backend, workers, address, on_training)
        done = finished_keys(trainings)
        latest = {r["key"]: r for r in read_jsonl(trainings)}
        result.failed_trainings = [latest[c.key] for c in cells if c.key not in done]  # each has a record
        if result.failed_trainings:
            return result
        result.cells = run_sweep(sweep, out, backend, workers, address, command or sys.argv, on_cell)
    if report:
        from ernie_traffic.stress.report import write_report  # matplotlib: only when reporting

        result.report = write_report(out)
    return result


def episodes_done(study: Study, out: str | os.PathLike[str]) -> int:
    """Training episodes finished over all runs (for a progress bar)."""
    files = [
        run_path(out, recipe, seed) / "metrics.jsonl" for recipe in study.recipes for seed in study.seeds
    ]
    return sum(min(len(f.read_bytes().splitlines()), study.budget.episodes) for f in files if f.is_file())
