"""``ernie-traffic stress-test`` and ``ernie-traffic report``: sweep controllers over perturbations."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

import ernie_traffic.lab.stress  # noqa: F401  (plugs in the lab's cells: a sweep directory may hold a lab sweep)
from ernie_traffic.cli.options import Address, Backend, Report, SweepOut, Workers, check_backend, parse_seeds
from ernie_traffic.stress import Sweep, expand_cells, load_plan, run_sweep
from ernie_traffic.stress.runner import finished_keys
from ernie_traffic.stress.sweep import RESULTS_FILE
from ernie_traffic.utils.config_files import build_config

_console = Console(stderr=True, highlight=False)


def stress_test(
    controllers: Annotated[
        list[str],
        typer.Option(
            "--controller",
            "-c",
            help="A classical controller by name (fixed-time, actuated, actuated-detector, max-pressure, "
            "webster), a training run directory, or a bundle folder from `ernie-traffic export`. "
            "Repeat for several.",
        ),
    ],
    out: SweepOut,
    network: Annotated[
        str, typer.Option("--network", "-n", help="Network name or .net.xml path.")
    ] = "grid2x2",
    plan: Annotated[
        Path | None, typer.Option("--plan", "-p", help="Stress plan YAML/TOML; default: the built-in plan.")
    ] = None,
    seeds: Annotated[
        str | None, typer.Option("--seeds", help="Comma-separated seeds, overriding the plan's.")
    ] = None,
    horizon: Annotated[
        float | None, typer.Option("--horizon", help="Simulated seconds per cell, overriding the plan's.")
    ] = None,
    backend: Backend = "process",
    workers: Workers = 2,
    address: Address = None,
    report: Report = True,
) -> None:
    """Run every (controller, perturbation, level, seed) cell of a stress plan and stream the results to
    OUT/results.jsonl; an interrupted sweep resumes without redoing finished cells."""
    stress_plan = load_plan(plan)
    if seeds is not None:
        stress_plan.seeds = parse_seeds(seeds)
    if horizon is not None:
        stress_plan.horizon = horizon
    fields = {"network": network, "controllers": controllers, "plan": stress_plan.model_dump()}
    sweep = build_config(Sweep, fields, "stress-test options")
    run_and_report(sweep, out, backend, workers, address, report)


def run_and_report(
    sweep: Sweep, out: Path, backend: str, workers: int, address: str | None, report: bool
) -> None:
    """Run the sweep's unfinished cells with one progress line per cell, then write its report
    (``stress-test`` and ``lab stress``)."""
    check_backend(backend, address)
    total = len(expand_cells(sweep))
    done = [len(finished_keys(out / RESULTS_FILE))]

    def progress(record: dict[str, Any]) -> None:
        done[0] += record["status"] == "ok"
        outcome = "ok" if record["status"] == "ok" else f"FAILED ({record.get('error', '')})"
        _console.print(f"[{done[0]}/{total}] {record['key']}: {outcome}")

    try:
        records = run_sweep(sweep, out, backend, workers, address, ["ernie-traffic", *sys.argv[1:]], progress)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM; the workers are already gone
        _console.print(
            f"interrupted: {done[0]}/{total} cells finished, kept in {out / RESULTS_FILE}; "
            "run the same command again to resume",
            soft_wrap=True,
        )
        raise typer.Exit(130) from None
    failed = sum(r["status"] != "ok" for r in records)
    _console.print(f"{len(records)} cell(s) run, {failed} failed; results in {out / RESULTS_FILE}")
    if report:
        from ernie_traffic.stress.report import write_report  # matplotlib: only when reporting

        html_path, md_path = write_report(out)
        _console.print(f"report: {html_path} and {md_path}")


def report(
    sweep_dir: Annotated[
        Path, typer.Argument(help="A stress-test directory (the --out of stress-test or lab stress).")
    ],
) -> None:
    """Write OUT/report.html (self-contained) and OUT/report.md from a sweep's results, finished or not."""
    from ernie_traffic.stress.report import write_report

    html_path, md_path = write_report(sweep_dir)
    typer.echo(f"{html_path}\n{md_path}")
