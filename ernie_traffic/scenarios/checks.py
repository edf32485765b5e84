"""Validation of a user's network and routes before a simulation starts, one error line per problem."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from ernie_traffic.errors import UserInputError
from ernie_traffic.scenarios.network_info import NetworkInfo, malformed_xml, read_network, scan_xml

# Attributes of route-file elements that name edges, with whether they hold a space-separated list.
_EDGE_ATTRIBUTES = {"edges": True, "from": False, "to": False, "via": True}
_ROUTE_ROOTS = ("routes", "additional")
_USERS = ("vehicle", "trip", "flow", "person")


def check_routes(route_files: Sequence[str | Path], info: NetworkInfo) -> None:
    """Raise one line per route file that is missing, malformed or uses edges the network lacks."""
    problems = []
    for route_file in map(Path, route_files):
        try:
            _check_route_file(route_file, info)
        except UserInputError as exc:
            problems.append(str(exc))
    if problems:
        raise UserInputError("\n".join(problems))


def check_scenario(net_file: str | Path, route_files: Sequence[str | Path]) -> NetworkInfo:
    """Validate a network and the routes that drive it; returns the network's intersections."""
    info = read_network(net_file)
    check_routes(route_files, info)
    return info


def _check_route_file(route_file: Path, info: NetworkInfo) -> None:
    root, _tags = scan_xml(route_file, "route file")
    if root not in _ROUTE_ROOTS:
        raise UserInputError(
            f"{route_file}: not a SUMO route file (root element <{root}>, expected <routes>)"
        )
    unknown: dict[str, str] = {}  # unknown edge -> the first vehicle, trip, flow or route using it
    owner = ""
    try:
        for event, element in ET.iterparse(route_file, events=("start", "end")):
            if event == "end":
                if element.tag in _USERS:
                    element.clear()  # route files of a day of traffic are large
                continue
            if element.tag in _USERS or element.get("id"):
                owner = f"{element.tag} {element.get('id', '?')!r}"  # a route inside a vehicle has no id
            for edge in _edges_named(element):
                if edge not in info.edges:
                    unknown.setdefault(edge, owner)
    except ET.ParseError as exc:
        raise malformed_xml(route_file, exc) from exc
    if unknown:
        edge, owner = next(iter(unknown.items()))
        more = f" (and {len(unknown) - 1} more unknown edges)" if len(unknown) > 1 else ""
        raise UserInputError(
            f"{route_file}: {owner} uses edge {edge!r}, which is not in {info.net_file.name}{more}"
        )


def _edges_named(element: ET.Element) -> list[str]:
    edges = []
    for attribute, is_list in _EDGE_ATTRIBUTES.items():
        value = element.get(attribute)
        if value:
            edges += value.split() if is_list else [value]
    return edges
