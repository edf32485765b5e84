"""Named scenarios: the networks bundled under ``networks/``, the RESCO networks shipped in
the ``sumo-rl`` wheel, and a user's own ``.net.xml`` (+ routes)."""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from pathlib import Path

from ernie_traffic.errors import UserInputError
from ernie_traffic.scenarios.checks import check_scenario
from ernie_traffic.scenarios.network_info import malformed_xml

BUNDLED_DIR = Path(__file__).resolve().parents[2] / "networks"
RESCO_NAMES = (
    "grid4x4",
    "arterial4x4",
    "cologne1",
    "cologne3",
    "cologne8",
    "ingolstadt1",
    "ingolstadt7",
    "ingolstadt21",
)
DEFAULT_SCENARIO = "grid2x2"


@dataclass(frozen=True)
class Scenario:
    """A network file and the route files that drive it."""

    name: str
    net_file: Path
    route_files: tuple[Path, ...]
    source: str  # "bundled", "resco", "user", "generated" (a new grid) or "variant" (of another scenario)
    additional_files: tuple[Path, ...] = field(default=())
    begin: float = 0.0  # simulation time (s) at which the demand starts, from the .sumocfg
    end: float = 3600.0  # simulation time (s) at which the demand's hour ends


def _time_window(net_file: Path) -> tuple[float, float]:
    """The ``<time><begin/><end/></time>`` of the ``<name>.sumocfg`` beside ``<name>.net.xml``;
    one hour from 0 when there is none."""
    window = {"begin": 0.0, "end": 3600.0}
    cfg = net_file.with_name(net_file.name.removesuffix(".net.xml") + ".sumocfg")
    if cfg.is_file():
        try:
            root = ET.parse(cfg).getroot()
        except ET.ParseError as exc:
            raise malformed_xml(cfg, exc) from exc
        for tag in window:
            node = root.find(f"time/{tag}")
            if node is not None:
                window[tag] = float(node.get("value", "0"))
    return window["begin"], window["end"]


def resco_dir() -> Path:
    """RESCO networks inside the installed ``sumo-rl`` package, located without importing it
    (importing ``sumo_rl`` demands SUMO_HOME and breaks on current pettingzoo)."""
    spec = importlib.util.find_spec("sumo_rl")
    if spec is None or not spec.submodule_search_locations:
        raise UserInputError("the sumo-rl package is not installed; it provides the RESCO networks")
    return Path(next(iter(spec.submodule_search_locations))) / "nets" / "RESCO"


def _from_folder(name: str, folder: Path, source: str) -> Scenario:
    nets = sorted(folder.glob("*.net.xml"))
    if len(nets) != 1:
        raise UserInputError(f"{folder}: expected exactly one .net.xml, found {len(nets)}")
    routes = tuple(sorted(folder.glob("*.rou.xml")))
    begin, end = _time_window(nets[0])
    return Scenario(name, nets[0], routes, source, begin=begin, end=end)


def list_scenarios() -> list[Scenario]:
    """All named scenarios: bundled first, then RESCO."""
    bundled = (
        [
            _from_folder(d.name, d, "bundled")
            for d in sorted(BUNDLED_DIR.iterdir())
            if d.is_dir() and any(d.glob("*.net.xml"))
        ]
        if BUNDLED_DIR.is_dir()
        else []
    )
    resco = [_from_folder(n, resco_dir() / n, "resco") for n in RESCO_NAMES if (resco_dir() / n).is_dir()]
    return bundled + resco


def resolve_scenario(
    name_or_path: str | Path = DEFAULT_SCENARIO, route_files: list[str | Path] | None = None
) -> Scenario:
    """A bundled or RESCO network by name, or a user's ``.net.xml`` path (routes then required
    through ``route_files`` unless ``<name>.rou.xml`` sits beside it). A user's network and routes
    are checked (:func:`~ernie_traffic.scenarios.checks.check_scenario`): well-formed, a SUMO
    network with traffic lights, routes on its edges. Route files given for a named network are
    only checked to exist."""
    text = str(name_or_path)
    if Path(text).suffix == ".xml" or "/" in text:
        net = Path(text)
        if not net.is_file():
            raise UserInputError(f"{net}: network file not found")
        if route_files is None:
            sibling = net.with_name(net.name.removesuffix(".net.xml") + ".rou.xml")
            routes: tuple[Path, ...] = (sibling,) if sibling.is_file() else ()
        else:
            routes = _existing_route_files(route_files)
        if not routes:
            raise UserInputError(
                f"{net}: no route file given and no {net.stem.removesuffix('.net')}.rou.xml beside it"
            )
        check_scenario(net, routes)  # a user's files fail here with one line, not inside SUMO
        begin, end = _time_window(net)
        return Scenario(net.name.removesuffix(".net.xml"), net, routes, "user", begin=begin, end=end)
    by_name = {s.name: s for s in list_scenarios()}
    if text not in by_name:
        raise UserInputError(
            f"unknown network {text!r}; known: {', '.join(by_name)} (or a path to a .net.xml)"
        )
    scenario = by_name[text]
    if route_files is not None:
        scenario = replace(scenario, route_files=_existing_route_files(route_files))
    return scenario


def _existing_route_files(route_files: list[str | Path]) -> tuple[Path, ...]:
    for route in map(Path, route_files):
        if not route.is_file():
            raise UserInputError(f"{route}: route file not found")
    return tuple(map(Path, route_files))
