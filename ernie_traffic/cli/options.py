"""Options several commands share, defined once: where parallel work runs, and seed lists."""

from __future__ import annotations

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
