"""What a training run shows on the terminal after its progress bar: the result table."""

from __future__ import annotations

from typing import Any

from rich.table import Table

SHOWN_METRICS = (
    ("mean_delay", "mean delay (s)"),
    ("mean_travel_time", "travel time (s)"),
    ("throughput", "throughput"),
)


def evaluation_table(evaluation: dict[str, Any], title: str) -> Table:
    """One row per controller, best mean delay first, the evaluation's mean metrics as columns."""
    table = Table(*("controller", *(label for _, label in SHOWN_METRICS)), title=title)
    ranked = sorted(evaluation.items(), key=lambda item: item[1]["mean"]["mean_delay"])
    for name, result in ranked:
        table.add_row(name, *(f"{result['mean'][key]:.1f}" for key, _ in SHOWN_METRICS))
    return table
