"""``ernie-traffic networks``: list, generate and check SUMO networks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ernie_traffic.scenarios import (
    GridSpec,
    check_scenario,
    generate_grid,
    list_scenarios,
    read_network,
    resolve_scenario,
)

app = typer.Typer(help="List, generate and check SUMO networks.", no_args_is_help=True)


@app.command("list")
def list_command() -> None:
    """List the bundled and RESCO networks that can be named with --network: signalised
    intersections, their phases and green phases (summed over intersections), incoming lanes
    (lanes with a signal-controlled link) and the simulated time window of the demand."""
    table = Table("name", "source", "signals", "phases", "green", "lanes in", "time (s)")
    for scenario in list_scenarios():
        info = read_network(scenario.net_file)
        table.add_row(
            scenario.name,
            scenario.source,
            str(len(info.signals)),
            str(info.phases),
            str(info.green_phases),
            str(info.incoming_lanes),
            f"{scenario.begin:g}–{scenario.end:g}",
        )
    Console().print(table)


_GRID_DEFAULTS = GridSpec()


def _grid_help(field: str) -> Any:
    return typer.Option(f"--{field.replace('_', '-')}", help=GridSpec.model_fields[field].description)


@app.command("grid")
def grid_command(
    out: Annotated[
        Path, typer.Option("--out", help="Folder to write <name>.net.xml, .rou.xml, .sumocfg and README.md.")
    ],
    name: Annotated[str | None, typer.Option(help="File name stem (default: the folder's name).")] = None,
    rows: Annotated[int, _grid_help("rows")] = _GRID_DEFAULTS.rows,
    cols: Annotated[int, _grid_help("cols")] = _GRID_DEFAULTS.cols,
    lanes: Annotated[int, _grid_help("lanes")] = _GRID_DEFAULTS.lanes,
    left_turn_lanes: Annotated[int, _grid_help("left_turn_lanes")] = _GRID_DEFAULTS.left_turn_lanes,
    edge_length: Annotated[float, _grid_help("edge_length")] = _GRID_DEFAULTS.edge_length,
    speed_limit: Annotated[float, _grid_help("speed_limit")] = _GRID_DEFAULTS.speed_limit,
    vehicles_per_hour_per_entry: Annotated[
        float, _grid_help("vehicles_per_hour_per_entry")
    ] = _GRID_DEFAULTS.vehicles_per_hour_per_entry,
    duration: Annotated[float, _grid_help("duration")] = _GRID_DEFAULTS.duration,
    seed: Annotated[int, _grid_help("seed")] = _GRID_DEFAULTS.seed,
) -> None:
    """Generate an R×C grid of signalised intersections with netgenerate, and random
    fringe-to-fringe demand with randomTrips.py; the same options and seed give identical files."""
    scenario = generate_grid(
        rows=rows,
        cols=cols,
        lanes=lanes,
        edge_length=edge_length,
        speed_limit=speed_limit,
        vehicles_per_hour_per_entry=vehicles_per_hour_per_entry,
        duration=duration,
        seed=seed,
        out_dir=out,
        left_turn_lanes=left_turn_lanes,
        name=name,
    )
    typer.echo(f"wrote {scenario.net_file}")
    for route_file in scenario.route_files:
        typer.echo(f"wrote {route_file}")


@app.command("check")
def check_command(
    network: Annotated[
        str, typer.Argument(help="A .net.xml file, or the name of a bundled or RESCO network.")
    ],
    routes: Annotated[
        list[str] | None,
        typer.Option(
            help="Route file(s) to check against the network: repeat the option or separate with commas. "
            "Default: <name>.rou.xml beside the network, or the named network's own routes."
        ),
    ] = None,
) -> None:
    """Validate a network and its routes, and print the signalised intersections the toolkit
    will control: their phases, green phases (the agents' actions), incoming lanes and links."""
    route_files = [Path(r) for option in routes or [] for r in option.split(",") if r]
    scenario = resolve_scenario(network, route_files or None)
    info = check_scenario(scenario.net_file, scenario.route_files)  # named networks are checked too
    table = Table("intersection", "phases", "green phases", "incoming lanes", "links")
    for signal in info.signals:
        table.add_row(
            signal.id,
            str(len(signal.phases)),
            f"{len(signal.green_phases)}: {', '.join(map(str, signal.green_phases))}",
            str(len(signal.incoming_lanes)),
            str(signal.links),
        )
    console = Console()
    console.print(table)
    console.print(
        f"{scenario.net_file}: {len(info.signals)} signalised intersections; routes checked: "
        + (", ".join(str(r) for r in scenario.route_files) or "none"),
        soft_wrap=True,  # paths must stay copyable (and greppable) on narrow terminals
    )
