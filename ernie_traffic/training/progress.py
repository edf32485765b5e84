"""What a training run shows on the terminal: a rich progress bar and a result table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ernie_traffic.training.loop import EpisodeCallback

SHOWN_METRICS = (
    ("mean_delay", "mean delay (s)"),
    ("mean_travel_time", "travel time (s)"),
    ("throughput", "throughput"),
)


@contextmanager
def episode_progress(description: str, episodes: int, done: int, quiet: bool) -> Iterator[EpisodeCallback]:
    """A callback for :func:`~ernie_traffic.training.loop.train` that advances a progress bar
    with the last episode's return and mean delay (nothing when ``quiet``)."""
    if quiet:
        yield lambda record: None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("return {task.fields[ret]:>9}  delay {task.fields[delay]:>6} s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(description, total=episodes, completed=done, ret="-", delay="-")

        def on_episode(record: dict[str, Any]) -> None:
            progress.update(
                task, advance=1, ret=f"{record['return']:.1f}", delay=f"{record['mean_delay']:.1f}"
            )

        yield on_episode


def evaluation_table(evaluation: dict[str, Any], title: str) -> Table:
    """One row per controller, best mean delay first, the evaluation's mean metrics as columns."""
    table = Table(*("controller", *(label for _, label in SHOWN_METRICS)), title=title)
    ranked = sorted(evaluation.items(), key=lambda item: item[1]["mean"]["mean_delay"])
    for name, result in ranked:
        table.add_row(name, *(f"{result['mean'][key]:.1f}" for key, _ in SHOWN_METRICS))
    return table
