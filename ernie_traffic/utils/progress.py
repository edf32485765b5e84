"""The progress bar of a training run, traffic or lab: one line per run, on stderr."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

EpisodeCallback = Callable[[dict[str, Any]], None]  # called with each finished episode's record


@contextmanager
def episode_progress(
    description: str, episodes: int, done: int, quiet: bool, shown: str
) -> Iterator[EpisodeCallback]:
    """A callback that advances a bar of ``episodes`` (``done`` of them already) by one episode and
    shows ``shown`` formatted with that episode's record, e.g. ``"return {return:.1f}"``; it does
    nothing when ``quiet``."""
    if quiet:
        yield lambda record: None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[shown]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(description, total=episodes, completed=done, shown="")
        yield lambda record: progress.update(task, advance=1, shown=shown.format_map(record))
