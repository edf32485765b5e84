"""Demand and topology variants of a scenario, for stress tests: a changed turning mix, demand at
another rate, lanes closed. Each writes a self-contained scenario folder and is deterministic for a seed.

The demand variants resample the scenario's own vehicles (routed by ``duarouter`` when its files
hold trips), so origins, destinations and vehicle types keep their distribution while the mix of
turns or the rate changes.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import sumolib

from ernie_traffic.errors import UserInputError
from ernie_traffic.scenarios.grid import sumocfg_text
from ernie_traffic.scenarios.registry import Scenario
from ernie_traffic.utils.io import atomic_write_text
from ernie_traffic.utils.sumo_tools import run_sumo_program, sumo_binary

TURN_KINDS = ("left", "straight", "right", "uturn")
# sumolib link directions (l/L: left and partly left, ...) by the turn they are at an intersection.
_TURN_OF_DIRECTION = {"l": "left", "L": "left", "s": "straight", "r": "right", "R": "right", "t": "uturn"}


@dataclass(frozen=True)
class RoutedVehicle:
    """A vehicle of a route file with its route spelled out."""

    depart: float
    edges: tuple[str, ...]
    attributes: tuple[tuple[str, str], ...]  # its attributes other than id, depart and route


@dataclass(frozen=True)
class Demand:
    """A scenario's vehicles, routed, in departure order, with the vehicle types they use."""

    vehicle_types: tuple[str, ...]  # <vType>/<vTypeDistribution> elements as XML text
    vehicles: tuple[RoutedVehicle, ...]


def read_demand(scenario: Scenario) -> Demand:
    """The scenario's vehicles with complete routes; trips and flows are routed by ``duarouter``."""
    with tempfile.TemporaryDirectory(prefix="ernie-demand-") as scratch:
        routed = Path(scratch) / "routed.rou.xml"
        run_sumo_program(
            [
                sumo_binary("duarouter"),
                "--net-file", scenario.net_file,
                "--route-files", ",".join(map(str, scenario.route_files)),
                "--output-file", routed,
                "--alternatives-output", "NUL",
                "--ignore-errors", "--no-warnings", "--no-step-log",
            ],
            f"routing {', '.join(map(str, scenario.route_files))}",
        )  # fmt: skip
        root = ET.parse(routed).getroot()
    vehicle_types = tuple(
        ET.tostring(element, encoding="unicode").strip()
        for element in root
        if element.tag in ("vType", "vTypeDistribution")
    )
    named_routes = {r.get("id"): r.get("edges", "") for r in root.findall("route")}
    vehicles = []
    for element in root.iter("vehicle"):
        route = element.find("route")
        edges = route.get("edges", "") if route is not None else named_routes.get(element.get("route"), "")
        attributes = tuple((k, v) for k, v in element.attrib.items() if k not in ("id", "depart", "route"))
        vehicles.append(RoutedVehicle(float(element.get("depart", "0")), tuple(edges.split()), attributes))
    if not vehicles:
        raise UserInputError(f"{scenario.route_files[0]}: no vehicle could be routed on {scenario.net_file}")
    return Demand(vehicle_types, tuple(vehicles))


def signal_turns(net: sumolib.net.Net, edges: Sequence[str]) -> Counter[str]:
    """Turns (``left``, ``straight``, ``right``, ``uturn``) a route makes at signalised intersections."""
    turns: Counter[str] = Counter()
    for from_id, to_id in itertools.pairwise(edges):
        from_edge = net.getEdge(from_id)
        if not _signalised(from_edge.getToNode()):
            continue
        connections = from_edge.getConnections(net.getEdge(to_id))
        if connections:
            turns[_TURN_OF_DIRECTION.get(connections[0].getDirection(), "straight")] += 1
    return turns


def turn_shares(scenario: Scenario) -> dict[str, float]:
    """Share of each turn kind among all turns the scenario's vehicles make at signalised intersections."""
    net = sumolib.net.readNet(str(scenario.net_file))
    total = sum((signal_turns(net, vehicle.edges) for vehicle in read_demand(scenario).vehicles), Counter())
    count = sum(total.values()) or 1
    return {kind: total[kind] / count for kind in TURN_KINDS}


def turning_mix_variant(
    scenario: Scenario,
    out_dir: str | Path,
    turn_weights: Mapping[str, float],
    seed: int = 0,
    name: str | None = None,
) -> Scenario:
    """The same departures, each given the route of a vehicle drawn with probability proportional
    to the product of ``turn_weights[kind]`` over the turns it makes at signals (``{"left": 3}``
    makes routes with left turns three times as likely per left turn; missing kinds weigh 1)."""
    unknown = set(turn_weights) - set(TURN_KINDS)
    if unknown or any(w <= 0 for w in turn_weights.values()):
        raise UserInputError(
            f"turn weights {dict(turn_weights)}: need positive weights of {', '.join(TURN_KINDS)}"
        )
    demand = read_demand(scenario)
    net = sumolib.net.readNet(str(scenario.net_file))
    weights = np.array(
        [
            np.prod([turn_weights.get(kind, 1.0) ** n for kind, n in signal_turns(net, v.edges).items()])
            for v in demand.vehicles
        ]
    )
    rng = np.random.default_rng(seed)
    drawn = rng.choice(len(demand.vehicles), size=len(demand.vehicles), p=weights / weights.sum())
    vehicles = [
        RoutedVehicle(slot.depart, demand.vehicles[i].edges, demand.vehicles[i].attributes)
        for slot, i in zip(demand.vehicles, drawn, strict=True)
    ]
    return _write_variant(scenario, Path(out_dir), name, "turns", demand.vehicle_types, vehicles)


def demand_rate_variant(
    scenario: Scenario, out_dir: str | Path, factor: float, seed: int = 0, name: str | None = None
) -> Scenario:
    """``factor`` times as many vehicles, drawn with replacement from the scenario's own (so the
    same routes and vehicle types), each departing around its original's time (± half the
    original mean headway), which keeps the demand's profile over the hour."""
    if factor <= 0:
        raise UserInputError(f"demand factor {factor}: must be positive")
    demand = read_demand(scenario)
    rng = np.random.default_rng(seed)
    count = max(1, round(factor * len(demand.vehicles)))
    drawn = rng.choice(len(demand.vehicles), size=count)
    headway = (scenario.end - scenario.begin) / len(demand.vehicles)
    jitter = rng.uniform(-headway / 2, headway / 2, size=count)
    vehicles = sorted(
        (
            RoutedVehicle(
                float(np.clip(demand.vehicles[i].depart + shift, scenario.begin, scenario.end)),
                demand.vehicles[i].edges,
                demand.vehicles[i].attributes,
            )
            for i, shift in zip(drawn, jitter, strict=True)
        ),
        key=lambda v: v.depart,
    )
    return _write_variant(scenario, Path(out_dir), name, f"demand{factor:g}", demand.vehicle_types, vehicles)


def lane_closure_variant(
    scenario: Scenario,
    out_dir: str | Path,
    count: int = 1,
    edges: Sequence[str] | None = None,
    seed: int = 0,
    name: str | None = None,
) -> Scenario:
    """The network with one lane fewer (its leftmost) on ``edges``, or on ``count`` approaches of
    signalised intersections drawn at random among those with two lanes or more. Movements only
    the closed lane served move to its neighbour, so the routes stay valid; ``netconvert`` rebuilds
    the signal programs of the junctions it touches (same phases, fewer links)."""
    net = sumolib.net.readNet(str(scenario.net_file))
    candidates = sorted(
        {
            edge.getID()
            for edge in net.getEdges(withInternal=False)
            if edge.getLaneNumber() >= 2 and _signalised(edge.getToNode())
        }
    )
    if edges is None:
        if not 1 <= count <= len(candidates):
            raise UserInputError(
                f"lane closure count {count}: {scenario.net_file} has {len(candidates)} signalised "
                "approaches with two lanes or more"
            )
        edges = sorted(np.random.default_rng(seed).choice(candidates, size=count, replace=False).tolist())
    for edge in edges:
        if not net.hasEdge(edge) or net.getEdge(edge).getLaneNumber() < 2:
            raise UserInputError(
                f"lane closure: edge {edge!r} is not an edge of {scenario.net_file} with 2+ lanes"
            )
    out = Path(out_dir)
    name = name or out.resolve().name
    out.mkdir(parents=True, exist_ok=True)
    closed = [net.getEdge(edge) for edge in edges]
    edge_patch = "".join(f'    <edge id="{e.getID()}" numLanes="{e.getLaneNumber() - 1}"/>\n' for e in closed)
    connection_patch = _kept_movements(closed)
    with tempfile.TemporaryDirectory(dir=out, prefix=".generating-") as scratch:
        edge_file, connection_file = Path(scratch) / "closed.edg.xml", Path(scratch) / "closed.con.xml"
        edge_file.write_text(f"<edges>\n{edge_patch}</edges>\n")
        connection_file.write_text(f"<connections>\n{connection_patch}</connections>\n")
        net_out = Path(scratch) / f"{name}.net.xml"
        run_sumo_program(
            [sumo_binary("netconvert"), "--sumo-net-file", scenario.net_file, "--edge-files", edge_file,
             "--connection-files", connection_file, "--output-file", net_out, "--no-warnings"],
            f"closing lanes of {scenario.net_file}",
        )  # fmt: skip
        shutil.move(net_out, out / net_out.name)
    route_files = []
    for index, route_file in enumerate(scenario.route_files):
        target = out / (f"{name}.rou.xml" if len(scenario.route_files) == 1 else f"{name}.{index}.rou.xml")
        shutil.copyfile(route_file, target)
        route_files.append(target)
    return _finish(out, name, route_files, scenario)


def _signalised(node: sumolib.net.node.Node) -> bool:
    # also "traffic_light_right_on_red" and "traffic_light_unregulated"
    return node.getType().startswith("traffic_light")


def _kept_movements(closed: Sequence[sumolib.net.edge.Edge]) -> str:
    """Connections that keep every movement drivable once the leftmost lanes of ``closed`` are gone:
    where all lane-to-lane connections of a movement (edge to edge) used a closed lane, the same
    movement from or to the nearest remaining lane."""
    lanes_after = {edge.getID(): edge.getLaneNumber() - 1 for edge in closed}
    touched = {edge for edge in closed} | {before for edge in closed for before in edge.getIncoming()}
    kept = set()
    for from_edge in sorted(touched, key=lambda e: e.getID()):
        from_lanes = lanes_after.get(from_edge.getID(), from_edge.getLaneNumber())
        for to_edge, connections in from_edge.getOutgoing().items():
            to_lanes = lanes_after.get(to_edge.getID(), to_edge.getLaneNumber())
            lanes = [(c.getFromLane().getIndex(), c.getToLane().getIndex()) for c in connections]
            if all(f >= from_lanes or t >= to_lanes for f, t in lanes):
                kept |= {
                    (from_edge.getID(), to_edge.getID(), min(f, from_lanes - 1), min(t, to_lanes - 1))
                    for f, t in lanes
                }
    return "".join(
        f'    <connection from="{f}" to="{t}" fromLane="{fl}" toLane="{tl}"/>\n'
        for f, t, fl, tl in sorted(kept)
    )


def _write_variant(
    scenario: Scenario,
    out: Path,
    name: str | None,
    suffix: str,
    vehicle_types: Sequence[str],
    vehicles: Sequence[RoutedVehicle],
) -> Scenario:
    name = name or out.resolve().name
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(scenario.net_file, out / f"{name}.net.xml")
    lines = ["<routes>", *(f"    {t}" for t in vehicle_types)]
    for index, vehicle in enumerate(vehicles):
        attributes = "".join(f" {k}={quoteattr(v)}" for k, v in vehicle.attributes)
        lines += [
            f'    <vehicle id="{suffix}_{index}" depart="{vehicle.depart:.2f}"{attributes}>',
            f'        <route edges="{" ".join(vehicle.edges)}"/>',
            "    </vehicle>",
        ]
    route_file = out / f"{name}.rou.xml"
    atomic_write_text(route_file, "\n".join([*lines, "</routes>", ""]))
    return _finish(out, name, [route_file], scenario)


def _finish(out: Path, name: str, route_files: list[Path], original: Scenario) -> Scenario:
    cfg = sumocfg_text(f"{name}.net.xml", [r.name for r in route_files], original.begin, original.end)
    atomic_write_text(out / f"{name}.sumocfg", cfg)
    return Scenario(
        name,
        out / f"{name}.net.xml",
        tuple(route_files),
        "variant",
        additional_files=original.additional_files,
        begin=original.begin,
        end=original.end,
    )
