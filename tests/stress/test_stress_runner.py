"""The sweep runner's bookkeeping with real worker processes: crashes, errors, retries, resume."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ernie_traffic.stress.runner import run_cells
from ernie_traffic.utils.io import read_jsonl


@dataclass(frozen=True)
class ScriptedCell:
    """A cell that tells :func:`attempt_cell` how to behave, and where to log its attempts."""

    key: str
    behaviour: str
    seed: int
    log: str


def attempt_cell(cell: ScriptedCell) -> dict[str, float]:
    """Log the attempt, then behave as the cell asks: succeed, crash the process, or raise."""
    log = Path(cell.log)
    with log.open("a") as f:
        f.write(f"{cell.key} {os.getpid()}\n")
    attempts = log.read_text().split().count(cell.key)
    if cell.behaviour == "crash_always" or (cell.behaviour == "crash_once" and attempts == 1):
        os._exit(17)  # what a SUMO segfault looks like to the pool: the process is gone
    if cell.behaviour == "raise":
        raise RuntimeError("sumo said no")
    return {"pid": float(os.getpid()), "seed": float(cell.seed)}


def cells(tmp_path: Path, behaviours: list[str]) -> list[ScriptedCell]:
    log = str(tmp_path / "attempts.log")
    return [ScriptedCell(f"cell{i}", b, i, log) for i, b in enumerate(behaviours)]


def attempts_logged(tmp_path: Path) -> list[str]:
    path = tmp_path / "attempts.log"
    return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []


def test_crashed_or_raising_cells_are_retried_once_then_recorded_as_failed(tmp_path):
    results = tmp_path / "results.jsonl"
    sweep = cells(tmp_path, ["ok", "crash_once", "crash_always", "raise", "ok"])
    written = run_cells(sweep, results, attempt_cell, workers=2)

    by_key = {r["key"]: r for r in read_jsonl(results)}
    assert len(written) == len(by_key) == 5  # nothing dropped
    assert (by_key["cell0"]["status"], by_key["cell0"]["attempts"]) == ("ok", 1)
    assert (by_key["cell1"]["status"], by_key["cell1"]["attempts"]) == ("ok", 2)
    assert (by_key["cell2"]["status"], by_key["cell2"]["attempts"]) == ("failed", 2)
    assert "worker process died (exit code 17)" in by_key["cell2"]["error"]
    assert (by_key["cell3"]["status"], by_key["cell3"]["attempts"]) == ("failed", 2)
    assert by_key["cell3"]["error"] == "RuntimeError: sumo said no"
    assert by_key["cell4"]["metrics"]["seed"] == 4.0
    assert sorted(attempts_logged(tmp_path)) == sorted(["cell0", "cell1", "cell1", "cell2", "cell2",
                                                        "cell3", "cell3", "cell4"])  # fmt: skip
    # Two workers really ran side by side, and crashed workers were replaced by new processes.
    assert len({r["metrics"]["pid"] for r in by_key.values() if r["status"] == "ok"}) >= 2


def test_resume_skips_finished_cells_and_reruns_a_torn_last_record(tmp_path):
    results = tmp_path / "results.jsonl"
    sweep = cells(tmp_path, ["ok", "ok", "ok"])
    run_cells(sweep, results, attempt_cell, workers=2)
    assert run_cells(sweep, results, attempt_cell, workers=2) == []
    assert len(attempts_logged(tmp_path)) == 3

    # A writer killed mid-line leaves a torn last record: that cell is not finished.
    text = results.read_text()
    last_key = read_jsonl(results)[-1]["key"]
    results.write_text(text[: len(text) - 20])
    rerun = run_cells(sweep, results, attempt_cell, workers=2)
    assert [r["key"] for r in rerun] == [last_key]
    assert attempts_logged(tmp_path).count(last_key) == 2
    assert {r["key"] for r in read_jsonl(results)} == {c.key for c in sweep}
    assert run_cells(sweep, results, attempt_cell, workers=2) == []
