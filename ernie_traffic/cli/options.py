"""Options several commands share, defined once: where parallel work runs and what it writes, networks,
progress, seed and level lists."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ernie_traffic.errors import UserInputError
from ernie_traffic.stress.runner import BACKENDS

Backend = Annotated[str, typer.Option("--backend", help=f"Where the work runs: {' or '.join(BACKENDS)}.")]
Workers = Annotated[
    int, typer.Option("--workers", "-w", min=1, help="Work in parallel: worker processes, or local Ray CPUs.")
]
Address = Annotated[
    str | None, typer.Option("--address", help="Ray cluster address (with --backend ray); default: local.")
]
SweepOut = Annotated[
    Path, typer.Option("--out", "-o", help="Sweep directory; running the same sweep again resumes it.")
]
Report = Annotated[bool, typer.Option("--report/--no-report", help="Write the report when the run ends.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars; print only the outcome.")]
Network = Annotated[
    str | None, typer.Option("--network", help="Bundled or RESCO network name, or a .net.xml path.")
]


def check_backend(backend: str, address: str | None) -> None:
    """One error line for an unknown backend, or an address without Ray."""
    if backend not in BACKENDS:
        raise UserInputError(f"--backend {backend}: unknown backend; use {' or '.join(BACKENDS)}")
    if address is not None and backend != "ray":
        raise UserInputError("--address is only used with --backend ray")


def parse_seeds(text: str, option: str = "--seeds") -> list[int]:
    """Comma-separated integer seeds, at least one."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserInputError(f"{option} {text!r}: expected comma-separated integers such as 0,1,2") from None
    if not seeds:
        raise UserInputError(f"{option}: no seed given")
    return seeds


def parse_levels(text: str, option: str, required: bool = False) -> list[float]:
    """Comma-separated levels >= 0; with ``required``, at least one."""
    try:
        levels = [float(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise UserInputError(f"{option} {text!r}: expected comma-separated numbers") from exc
    if levels and min(levels) < 0:
        raise UserInputError(f"{option} {text!r}: levels must be >= 0")
    if required and not levels:
        raise UserInputError(f"{option} {text!r}: expected one or more levels >= 0")
    return levels
