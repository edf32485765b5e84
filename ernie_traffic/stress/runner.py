"""Run a sweep's cells, each an independent simulation, and stream their records to a results file.

Two backends share one contract: ``run_cells(cells, results_path, ...)`` runs every cell whose key
has no successful record in ``results_path`` yet, appends one JSON line per finished cell as soon as
it finishes, retries a failed attempt (a Python error or a worker process that died) once, and
records a cell that failed twice as ``status: "failed"`` with the error, so the report can show it.

A sweep interrupted by Ctrl-C or terminated by SIGTERM raises ``KeyboardInterrupt`` out of
``run_cells`` after ending its workers at once: the cells in progress are abandoned (a resumed sweep
runs them again), the records written so far are kept. Workers ignore SIGINT and exit by themselves
when their parent is gone, even if it was killed outright (:mod:`ernie_traffic.utils.processes`).

- ``process`` (default): a pool of spawned worker processes owned by this module. libsumo allows one
  simulation per process, and a SUMO crash kills its process, so each worker runs one cell at a
  time and a dead worker is replaced without disturbing the others (unlike
  ``concurrent.futures``, whose whole pool breaks when one worker dies).
- ``ray``: Ray tasks, on a local Ray instance or the cluster at ``address``.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing as mp
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from ernie_traffic.utils.io import append_jsonl, read_jsonl
from ernie_traffic.utils.processes import WorkerProcess, sigterm_as_interrupt

Cell = Any  # a frozen dataclass with a unique ``key``: pickled to its worker, its fields open its record
CellFn = Callable[[Cell], dict[str, Any]]
Progress = Callable[[dict[str, Any]], None]
ATTEMPTS = 2  # a cell is retried once, then recorded as failed
BACKENDS = ("process", "ray")


def finished_keys(results_path: str | os.PathLike[str]) -> set[str]:
    """Keys of the cells that already have a successful record (a resumed sweep skips them)."""
    return {r["key"] for r in read_jsonl(results_path) if r.get("status") == "ok"}


def run_cells(
    cells: Iterable[Cell],
    results_path: str | os.PathLike[str],
    cell_fn: CellFn,
    backend: str = "process",
    workers: int = 2,
    address: str | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Run the cells not yet finished in ``results_path``; return the records written by this call.

    Each cell is a frozen dataclass of JSON-able fields with a unique ``key``; ``cell_fn`` runs one.
    """
    _end_torn_line(results_path)
    done = finished_keys(results_path)
    todo = [c for c in cells if c.key not in done]
    written: list[dict[str, Any]] = []

    def settle(cell: Cell, outcome: dict[str, Any], attempts: int) -> bool:
        """Record the cell's outcome and say so, or say that a failed attempt deserves another."""
        if outcome["status"] != "ok" and attempts < ATTEMPTS:
            return False
        rec = {**asdict(cell), **outcome, "attempts": attempts}
        append_jsonl(results_path, rec)
        written.append(rec)
        if progress is not None:
            progress(rec)
        return True

    if not todo:
        return written
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    with sigterm_as_interrupt():
        if backend == "process":
            _run_process_pool(todo, cell_fn, workers, settle)
        else:
            _run_ray(todo, cell_fn, workers, address, settle)
    return written


def _end_torn_line(results_path: str | os.PathLike[str]) -> None:
    """Terminate a torn last line left by a killed writer, so the next record starts a line of its own."""
    path = Path(results_path)
    if path.is_file() and path.stat().st_size > 0:
        with path.open("rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.write(b"\n")


def execute_cell(cell_fn: CellFn, cell: Cell) -> dict[str, Any]:
    """Run one attempt; a Python error becomes a failed outcome instead of killing the worker."""
    start = time.perf_counter()
    try:
        metrics = cell_fn(cell)
    except Exception as exc:
        return {
            "status": "failed",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=8),
            "wall_s": time.perf_counter() - start,
        }
    return {"status": "ok", "metrics": metrics, "wall_s": time.perf_counter() - start}


class _Worker(WorkerProcess):
    """A worker process running cells, and the cell it is working on."""

    def __init__(self, ctx: Any, cell_fn: CellFn) -> None:
        super().__init__(ctx, functools.partial(execute_cell, cell_fn))
        self.cell: Cell | None = None
        self.attempt = 0

    def give(self, cell: Cell, attempt: int) -> None:
        self.cell, self.attempt = cell, attempt
        self.conn.send(cell)


def _run_process_pool(
    todo: list[Cell],
    cell_fn: CellFn,
    workers: int,
    settle: Callable[[Cell, dict[str, Any], int], bool],
) -> None:
    ctx = mp.get_context("spawn")
    queue: list[tuple[Cell, int]] = [(c, 1) for c in reversed(todo)]  # pop() from the end
    pool = [_Worker(ctx, cell_fn) for _ in range(min(workers, len(todo)))]
    try:
        while True:
            for worker in pool:
                if worker.cell is None and queue:
                    worker.give(*queue.pop())
            busy = [w for w in pool if w.cell is not None]
            if not busy:
                break
            by_handle = {handle: w for w in busy for handle in (w.conn, w.process.sentinel)}
            for handle in wait(list(by_handle)):
                worker = by_handle[handle]
                if worker.cell is None:  # already settled through its other handle
                    continue
                outcome = None
                if handle is worker.conn and worker.conn.poll():
                    with contextlib.suppress(EOFError, OSError):
                        outcome = worker.conn.recv()
                if outcome is None and worker.process.is_alive():
                    continue  # the pipe closed first; the process's exit is reported next
                if outcome is None:  # the process died mid-cell (SUMO crash, OOM kill)
                    worker.process.join()
                    outcome = _crash_outcome(worker.process.exitcode)
                cell, worker.cell = worker.cell, None
                if not settle(cell, outcome, worker.attempt):
                    queue.append((cell, worker.attempt + 1))
                if outcome["status"] != "ok":
                    # After a fatal SUMO error libsumo's state is suspect: the next cell gets a fresh process.
                    worker.stop()
                    pool[pool.index(worker)] = _Worker(ctx, cell_fn)
    except BaseException:  # interrupted (Ctrl-C, SIGTERM) or failed here: no cell in progress is wanted
        for worker in pool:
            worker.end_now()
        raise
    for worker in pool:
        worker.stop()


def _crash_outcome(exitcode: int | None) -> dict[str, Any]:
    return {"status": "failed", "error": f"worker process died (exit code {exitcode})", "wall_s": None}


@contextlib.contextmanager
def ray_session(workers: int, address: str | None = None) -> Iterator[Any]:
    """Ray, initialised for a sweep: a local instance with ``workers`` CPUs, or the cluster at
    ``address``; shut down on exit. Inside an already initialised Ray it does nothing."""
    try:
        import ray
    except ImportError as exc:
        from ernie_traffic.errors import UserInputError

        raise UserInputError(
            "--backend ray needs Ray: pip install 'ernie-traffic[ray]' (ray==2.60.0)"
        ) from exc
    if ray.is_initialized():
        yield ray
        return
    if address is None:
        # Local workers import what the driver imports, from the same directories.
        paths = [str(Path(__file__).resolve().parents[2]), *(p for p in sys.path if p and Path(p).is_dir())]
        runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}}
        ray.init(num_cpus=workers, include_dashboard=False, runtime_env=runtime_env, log_to_driver=False)
    else:  # a cluster's nodes have ernie-traffic installed
        ray.init(address=address, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def _run_ray(
    todo: list[Cell],
    cell_fn: CellFn,
    workers: int,
    address: str | None,
    settle: Callable[[Cell, dict[str, Any], int], bool],
) -> None:
    with ray_session(workers, address) as ray:
        # One CPU per cell: SUMO is single-threaded and libsumo holds one simulation per process;
        # max_retries=0 because retries (crash or error) are counted here, the same as the process pool.
        remote = ray.remote(num_cpus=1, max_retries=0)(execute_cell)
        pending: dict[Any, tuple[Cell, int]] = {}

        def submit(cell: Cell, attempt: int) -> None:
            pending[remote.remote(cell_fn, cell)] = (cell, attempt)

        for cell in todo:
            submit(cell, 1)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            cell, attempt = pending.pop(ready[0])
            try:
                outcome = ray.get(ready[0])
            except ray.exceptions.RayError as exc:  # the worker process died
                outcome = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:2000], "wall_s": None}
            if not settle(cell, outcome, attempt):
                submit(cell, attempt + 1)
