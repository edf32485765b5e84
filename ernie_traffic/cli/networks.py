"""``ernie-traffic networks``: list, generate and check SUMO networks."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from ernie_traffic.scenarios import list_scenarios

app = typer.Typer(help="List, generate and check SUMO networks.", no_args_is_help=True)


@app.command("list")
def list_command() -> None:
    """List the bundled and RESCO networks that can be named with --network."""
    table = Table("name", "source", "network file", "route files", "begin (s)", "end (s)")
    for s in list_scenarios():
        table.add_row(
            s.name,
            s.source,
            str(s.net_file),
            ", ".join(r.name for r in s.route_files),
            f"{s.begin:g}",
            f"{s.end:g}",
        )
    Console().print(table)
