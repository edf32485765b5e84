"""Signalised intersections read from a ``.net.xml``: phase table, green phases, lanes, movements.

Read with ElementTree before SUMO starts, so agents and spaces exist at construction (PettingZoo
needs them) and a network can be inspected without running it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from ernie_deploy.cabinet import default_programs
from ernie_deploy.timing import GREEN_LINKS, is_green_phase

from ernie_traffic.errors import UserInputError


@dataclass(frozen=True)
class Intersection:
    """One traffic-light system (TLS) and everything a controller needs to know about it.

    ``phases`` is the network's own program (SUMO state strings, one character per controlled
    link); ``green_phases`` indexes the phases that show some green and no yellow, in program order
    (an action ``a`` requests ``phases[green_phases[a]]``). ``movements[a]`` lists the
    (incoming lane, outgoing lane) pairs that green phase ``a`` lets through. Green phases are
    those of :func:`ernie_deploy.timing.is_green_phase`, as ``networks list`` counts them.
    """

    id: str
    phases: tuple[str, ...]
    phase_durations: tuple[float, ...]
    green_phases: tuple[int, ...]
    incoming_lanes: tuple[str, ...]
    outgoing_lanes: tuple[str, ...]
    incoming_lane_lengths: tuple[float, ...]  # metres, in incoming_lanes order
    outgoing_lane_lengths: tuple[float, ...]
    links: tuple[tuple[str, str], ...]  # per link index: (incoming lane, outgoing lane)
    movements: tuple[tuple[tuple[str, str], ...], ...]

    @property
    def green_states(self) -> tuple[str, ...]:
        return tuple(self.phases[i] for i in self.green_phases)

    @property
    def n_actions(self) -> int:
        return len(self.green_phases)


def read_intersections(net_file: Path) -> dict[str, Intersection]:
    """All signalised intersections of ``net_file`` that have at least one green phase, by TLS id."""
    try:
        root = ET.parse(net_file).getroot()
    except (ET.ParseError, OSError) as error:
        raise UserInputError(f"{net_file}: cannot read network: {error}") from None
    lane_length = {lane.get("id", ""): float(lane.get("length", "0")) for lane in root.iter("lane")}
    lane_of_link: dict[str, dict[int, tuple[str, str]]] = {}
    for conn in root.iter("connection"):
        tls = conn.get("tl")
        if tls is None:
            continue
        link = (f"{conn.get('from')}_{conn.get('fromLane')}", f"{conn.get('to')}_{conn.get('toLane')}")
        lane_of_link.setdefault(tls, {})[int(conn.get("linkIndex", "-1"))] = link
    intersections: dict[str, Intersection] = {}
    for tls, logic in default_programs(root).items():
        phases = tuple(p.get("state", "") for p in logic.iter("phase"))
        durations = tuple(float(p.get("duration", "0")) for p in logic.iter("phase"))
        greens = tuple(i for i, state in enumerate(phases) if is_green_phase(state))
        links_by_index = lane_of_link.get(tls, {})
        if not greens or not links_by_index:
            continue
        links = tuple(links_by_index.get(i, ("", "")) for i in range(len(phases[0])))
        movements = tuple(
            tuple(
                dict.fromkeys(links[i] for i, c in enumerate(phases[g]) if c in GREEN_LINKS and links[i][0])
            )
            for g in greens
        )
        incoming = tuple(dict.fromkeys(a for a, _ in links if a))
        outgoing = tuple(dict.fromkeys(b for _, b in links if b))
        intersections[tls] = Intersection(
            id=tls,
            phases=phases,
            phase_durations=durations,
            green_phases=greens,
            incoming_lanes=incoming,
            outgoing_lanes=outgoing,
            incoming_lane_lengths=tuple(lane_length.get(lane, 0.0) for lane in incoming),
            outgoing_lane_lengths=tuple(lane_length.get(lane, 0.0) for lane in outgoing),
            links=links,
            movements=movements,
        )
    if not intersections:
        raise UserInputError(f"{net_file}: the network has no traffic lights with a green phase to control")
    return intersections
