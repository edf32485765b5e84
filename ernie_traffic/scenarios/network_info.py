"""What a SUMO network offers the toolkit: its signalised intersections, their phases and lanes.

Read with sumolib, after checking that the file exists, is well-formed XML and is a SUMO
network, so that a user's bad file gives one clear line instead of a parser traceback.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import sumolib
from ernie_deploy.timing import is_green_phase

from ernie_traffic.errors import UserInputError


@dataclass(frozen=True)
class SignalInfo:
    """One signalised intersection (a SUMO traffic-light logic) as the toolkit controls it."""

    id: str
    phases: tuple[str, ...]  # signal states of the network's own program, in program order
    green_phases: tuple[int, ...]  # indices into ``phases`` of the phases agents choose among
    incoming_lanes: tuple[str, ...]  # lanes with a controlled link, sorted
    links: int  # number of controlled links (length of a phase state)


@dataclass(frozen=True)
class NetworkInfo:
    """The signalised intersections of a network file, sorted by id."""

    net_file: Path
    signals: tuple[SignalInfo, ...]
    edges: frozenset[str]  # ids of the network's normal (non-internal) edges

    @property
    def phases(self) -> int:
        return sum(len(s.phases) for s in self.signals)

    @property
    def green_phases(self) -> int:
        return sum(len(s.green_phases) for s in self.signals)

    @property
    def incoming_lanes(self) -> int:
        return sum(len(s.incoming_lanes) for s in self.signals)


def scan_xml(path: Path, what: str) -> tuple[str, frozenset[str]]:
    """The root element's tag and the set of all tags, after checking that the whole file is
    well-formed XML; raises one line for a missing or malformed file."""
    if not path.is_file():
        raise UserInputError(f"{path}: {what} not found")
    root, tags = "", set()
    try:
        for event, element in ET.iterparse(path, events=("start", "end")):
            if event == "start":
                root = root or element.tag
                tags.add(element.tag)
            else:
                element.clear()  # keeps memory flat on large files
    except ET.ParseError as exc:
        raise malformed_xml(path, exc) from exc
    return root, frozenset(tags)  # iterparse raises on a document without elements


def malformed_xml(path: Path, exc: ET.ParseError) -> UserInputError:
    """One line naming the file, the position and the parser's complaint (e.g. ``mismatched tag``)."""
    line, column = exc.position
    reason = str(exc).split(":")[0]
    return UserInputError(f"{path}: malformed XML at line {line}, column {column + 1}: {reason}")


def read_network(net_file: str | Path) -> NetworkInfo:
    """Signalised intersections of ``net_file``; cached while the file is unchanged. A file that
    is not a SUMO network, or a network without traffic lights, is refused with one line."""
    path = Path(net_file)
    root, tags = scan_xml(path, "network file")
    if root != "net":
        raise UserInputError(f"{path}: not a SUMO network (root element <{root}>, expected <net>)")
    if "tlLogic" not in tags:
        raise UserInputError(
            f"{path}: the network has no traffic lights; the toolkit controls signalised intersections"
        )
    stat = path.stat()
    return _read_network(path.resolve(), stat.st_mtime_ns, stat.st_size)


@functools.cache
def _read_network(path: Path, _mtime_ns: int, _size: int) -> NetworkInfo:
    # The modification time and size are part of the cache key so an edited file is re-read.
    try:
        net = sumolib.net.readNet(str(path), withPrograms=True)
    except (KeyError, ValueError, IndexError, AttributeError) as exc:
        # Well-formed XML that sumolib cannot read: an attribute missing or of the wrong kind.
        raise UserInputError(f"{path}: not a readable SUMO network ({type(exc).__name__}: {exc})") from exc
    signals = tuple(sorted((_signal_info(tls) for tls in net.getTrafficLights()), key=lambda s: s.id))
    edges = frozenset(e.getID() for e in net.getEdges(withInternal=False))
    return NetworkInfo(path, signals, edges)


def _signal_info(tls: sumolib.net.TLS) -> SignalInfo:
    # A network file holds one program per traffic light in practice; SUMO starts the first.
    programs = list(tls.getPrograms().values())
    phases = tuple(phase.state for phase in programs[0].getPhases()) if programs else ()
    incoming = sorted({in_lane.getID() for in_lane, _out_lane, _index in tls.getConnections()})
    links = max((len(state) for state in phases), default=0)
    return SignalInfo(
        id=tls.getID(),
        phases=phases,
        green_phases=tuple(i for i, state in enumerate(phases) if is_green_phase(state)),
        incoming_lanes=tuple(incoming),
        links=links,
    )
