"""Cells per minute of a stress sweep with 1 and 2 process-pool workers and with Ray, side by side.

    PYTHONPATH=$PWD:$PWD/deploy python benchmarks/stress_scaling.py [--cells 8] [--horizon 600] [--no-ray]

Every configuration runs the same cells (fixed-time and max-pressure on grid2x2, speed perturbation,
distinct seeds) into a fresh results file; the speed-up is measured against 1 worker in the same run.
Goal: ≥ 1.8× with 2 workers on 2 cores. Cells that only sleep then show the runner's own concurrency,
which holds even when other processes take the CPUs.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ernie_traffic.stress.cells import TrafficCell, run_cell
from ernie_traffic.stress.plan import Family, StressPlan
from ernie_traffic.stress.runner import run_cells
from ernie_traffic.stress.sweep import Sweep, expand_cells


def bench_cells(count: int, horizon: float) -> list[TrafficCell]:
    seeds = list(range(count // 2))
    plan = StressPlan(
        seeds=seeds,
        horizon=horizon,
        families=[Family(name="speed", perturbation="speed_factor", levels=[0.5])],
    )
    sweep = Sweep(network="grid2x2", controllers=["fixed-time", "max-pressure"], plan=plan)
    return [c for c in expand_cells(sweep) if c.family == "speed"][:count]


def cells_per_minute(cells: list[TrafficCell], backend: str, workers: int) -> tuple[float, float | None]:
    """Cells per minute, and for the process pool the cores its workers got (CPU seconds / wall
    seconds): below ``workers`` means other processes took the rest of the machine."""
    with tempfile.TemporaryDirectory() as tmp:
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        records = run_cells(cells, Path(tmp) / "results.jsonl", run_cell, backend=backend, workers=workers)
        elapsed = time.perf_counter() - start
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
    failed = [r["key"] for r in records if r["status"] != "ok"]
    if failed:
        raise SystemExit(f"cells failed: {failed}")
    cpu = (children.ru_utime + children.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    return 60.0 * len(cells) / elapsed, (cpu / elapsed if backend == "process" else None)


@dataclass(frozen=True)
class SleepingCell:
    """A cell that waits instead of computing: measures the runner's concurrency on a busy machine."""

    key: str
    seconds: float


def sleeping_cell(cell: SleepingCell) -> dict[str, float]:
    time.sleep(cell.seconds)
    return {"slept": cell.seconds}


def sleeping_wall(workers: int, cells: int = 8, seconds: float = 1.0) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        todo = [SleepingCell(key=str(i), seconds=seconds) for i in range(cells)]
        run_cells(todo, Path(tmp) / "results.jsonl", sleeping_cell, workers=workers)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=8)
    parser.add_argument("--horizon", type=float, default=600.0, help="simulated seconds per cell")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray backend")
    args = parser.parse_args()
    cells = bench_cells(args.cells, args.horizon)
    print(f"{len(cells)} cells of {args.horizon:g} simulated s on grid2x2; {os.cpu_count()} CPU(s)")
    # A speed-up is only meaningful on otherwise idle cores: print what else was running.
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    configs = [("process", 1), ("process", 2)] + ([] if args.no_ray else [("ray", 2)])
    rates = {}
    for backend, workers in configs:
        rate, cores = cells_per_minute(cells, backend, workers)
        rates[(backend, workers)] = rate
        got = "" if cores is None else f"  (workers got {cores:.2f} cores)"
        print(f"{backend:8s} workers={workers}: {rate:6.1f} cells/min{got}")
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    one_sleeping, two_sleeping = sleeping_wall(1), sleeping_wall(2)
    print(
        f"8 cells sleeping 1 s (no CPU): {one_sleeping:.2f} s with 1 worker, {two_sleeping:.2f} s with 2 "
        f"({one_sleeping / two_sleeping:.2f}x; worker start-up included)"
    )
    one = rates[("process", 1)]
    for (backend, workers), rate in rates.items():
        if (backend, workers) != ("process", 1):
            print(f"speed-up {backend} x{workers} vs process x1: {rate / one:.2f}x")


if __name__ == "__main__":
    main()
