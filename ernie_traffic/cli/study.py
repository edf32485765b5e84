"""``ernie-traffic study``: train every recipe × seed of a study, stress-test the runs beside classical
controllers, write one report."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ernie_traffic.cli.options import Address, Backend, Quiet, Report, Workers, check_backend

if TYPE_CHECKING:  # the study library imports torch: loaded when the command runs, not for --help
    from ernie_traffic.study import Study

_console = Console(stderr=True, highlight=False)
POLL_SECONDS = 2.0  # how often the training bar counts the runs' finished episodes


def study_command(
    config: Annotated[
        str,
        typer.Argument(help="Study YAML/TOML file, or the name of a shipped study (grid2x2-paper)."),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Study directory; running the same study again resumes it.")
    ],
    backend: Backend = "process",
    workers: Workers = 2,
    address: Address = None,
    report: Report = True,
    quiet: Quiet = False,
) -> None:
    """Train every recipe of a study on every training seed, stress-test the runs beside the study's
    classical controllers, and write OUT/report.html and OUT/report.md. Re-running the command
    recomputes nothing that is finished and resumes a killed training run from its checkpoint."""
    check_backend(backend, address)
    from ernie_traffic.study import load_study, run_study

    study = load_study(config)
    command = ["ernie-traffic", *sys.argv[1:]]
    with _progress(study, out, quiet) as (on_training, on_cell):
        result = run_study(study, out, backend, workers, address, command, on_training, on_cell, report)
    trained, cells = len(result.trainings), len(result.cells)
    _console.print(f"{trained} training run(s) and {cells} stress cell(s) run; study in {out}")
    if result.failed_trainings:
        for record in result.failed_trainings:
            _console.print(f"training {record['key']} failed: {record.get('error', 'not run')}")
        _console.print("the stress test waits for every run; run the same command again to retry")
        raise typer.Exit(1)
    if failed := sum(r["status"] != "ok" for r in result.cells):
        _console.print(f"{failed} stress cell(s) failed (listed in the report); run again to retry them")
    if result.report is not None:
        _console.print(f"report: {result.report[0]} and {result.report[1]}")


@contextmanager
def _progress(study: Study, out: Path, quiet: bool) -> Iterator[tuple[Any, Any]]:
    """Callbacks for :func:`run_study` driving two bars: training episodes over all runs (counted in
    the run directories every few seconds, since runs report only when they end) and stress cells."""
    from ernie_traffic.stress.runner import finished_keys
    from ernie_traffic.stress.sweep import RESULTS_FILE, expand_cells
    from ernie_traffic.study.run import TRAININGS_FILE, episodes_done, study_sweep

    if quiet:
        yield None, None
        return
    columns = (
        TextColumn("[bold]{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
    )
    runs = len(study.recipes) * len(study.seeds)
    cells_total = len(expand_cells(study_sweep(study, out)))
    stop = threading.Event()
    with Progress(*columns, console=_console) as progress:
        training = progress.add_task(
            "training episodes", total=runs * study.budget.episodes, note=f"{runs} runs"
        )
        stress = progress.add_task("stress cells", total=cells_total, note="")
        runs_done = [len(finished_keys(out / TRAININGS_FILE))]
        cells_done = [len(finished_keys(out / RESULTS_FILE))]

        def poll() -> None:
            while True:
                progress.update(training, completed=episodes_done(study, out))
                if stop.wait(POLL_SECONDS):
                    return

        def on_training(record: dict[str, Any]) -> None:
            runs_done[0] += record["status"] == "ok"
            progress.update(training, note=f"{runs_done[0]}/{runs} runs")
            if record["status"] != "ok":
                progress.console.print(f"training {record['key']} FAILED: {record.get('error', '')}")

        def on_cell(record: dict[str, Any]) -> None:
            cells_done[0] += record["status"] == "ok"
            progress.update(stress, completed=cells_done[0])
            if record["status"] != "ok":
                progress.console.print(f"cell {record['key']} FAILED: {record.get('error', '')}")

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        try:
            progress.update(training, note=f"{runs_done[0]}/{runs} runs")
            progress.update(stress, completed=cells_done[0])
            yield on_training, on_cell
        finally:
            stop.set()
            poller.join()
            progress.update(training, completed=episodes_done(study, out))
