"""The signal cabinet's own configuration, and the check of a bundle against it.

A real signal controller and its conflict monitor never take their safety timing or the signal
states they may show from the adaptive system that commands them: both are configured in the
cabinet. Here an intersection's cabinet is its table of permitted green states (NTCIP phase ``p``
is green state ``p - 1``) and its timing (minimum green, yellow change, red clearance, maximum
green). A bundle runs only where it fits the cabinet (:func:`check_fits`):

- its green phases are exactly the cabinet's, in the same order (the policy's action ``a`` is the
  cabinet's phase ``a + 1``), so no state outside the cabinet's table can be asked for;
- it asks for no less yellow, red clearance or minimum green than the cabinet times, and for no
  less yellow than :data:`ernie_deploy.timing.MIN_YELLOW_S`.

A runtime given a cabinet then times with the cabinet's values, never the manifest's
(``ControllerRuntime(bundle, cabinet=...)``). A cabinet comes from the network (the toolkit's
``TrafficSignalEnv.cabinet``, or :func:`read_network_cabinet` where only the runtime is installed),
from the controller itself over NTCIP (``NtcipClient.cabinet``), or from a cabinet file
(:func:`read_cabinet`, written by ``ernie-traffic deploy cabinet``).
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ernie_deploy.bundle import MANIFEST_NAME, Bundle, BundleError, Fields, parse_timing
from ernie_deploy.timing import MIN_YELLOW_S, TimingConfig, is_green_phase

CABINET_FORMAT = "ernie-signal-cabinet"
CABINET_FORMAT_VERSION = 1
_TOLERANCE_S = 1e-6  # timing values read over NTCIP are tenths of seconds: compare with slack


class CabinetError(Exception):
    """A cabinet file that cannot be used; ``str(error)`` is one line naming the file and the problem."""


@dataclass(frozen=True)
class CabinetIntersection:
    """What one intersection's controller permits: its green states in NTCIP phase order, and the
    timing it enforces whatever it is asked."""

    green_states: tuple[str, ...]
    timing: TimingConfig


@dataclass(frozen=True)
class Cabinet:
    """The cabinets of a network's intersections. ``network`` names it for people and for
    ``check``'s default ``--network`` (None when unknown, e.g. read over NTCIP); what a bundle must
    fit is the intersections' tables and timing, whatever the network is called."""

    network: str | None
    intersections: Mapping[str, CabinetIntersection]

    def to_dict(self) -> dict[str, Any]:
        """The cabinet file's content (JSON)."""
        return {
            "format": CABINET_FORMAT,
            "format_version": CABINET_FORMAT_VERSION,
            "network": self.network,
            "intersections": {
                tls: {"green_states": list(own.green_states), "timing": asdict(own.timing)}
                for tls, own in self.intersections.items()
            },
        }


def read_cabinet(path: str | os.PathLike[str]) -> Cabinet:
    """The cabinet file ``path`` (JSON, see :meth:`Cabinet.to_dict`), checked completely."""
    source = Path(path)
    try:
        data = json.loads(source.read_bytes())
    except OSError as exc:
        raise CabinetError(f"{source}: cannot read: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CabinetError(f"{source}: not valid JSON: {exc}") from None
    top = Fields(data, "cabinet", source, CabinetError)
    if top.get("format", str) != CABINET_FORMAT:
        raise top.fail("format", f"expected {CABINET_FORMAT!r}: this is not a cabinet file")
    if top.get("format_version", int) != CABINET_FORMAT_VERSION:
        raise top.fail("format_version", f"unsupported (this runtime reads {CABINET_FORMAT_VERSION})")
    tls_fields = top.child("intersections")
    intersections = {}
    for tls in tls_fields.data:
        fields = tls_fields.child(tls)
        states = fields.get("green_states", list)
        if not states or not all(isinstance(s, str) and s for s in states) or len(set(map(len, states))) != 1:
            raise fields.fail("green_states", "expected SUMO signal state strings of one length")
        timing = parse_timing(fields.child("timing"))
        if timing.yellow_time < MIN_YELLOW_S:
            raise fields.fail(
                "timing.yellow_time", f"{timing.yellow_time:g} s is below the {MIN_YELLOW_S:g} s floor"
            )
        intersections[tls] = CabinetIntersection(tuple(states), timing)
    if not intersections:
        raise top.fail("intersections", "is empty")
    network = data.get("network")
    if network is not None and not isinstance(network, str):
        raise top.fail("network", "expected a string or null")
    return Cabinet(network, intersections)


def default_programs(network: ET.Element) -> dict[str, ET.Element]:
    """Each traffic light's default program in a SUMO network (the root ``<net>`` element), by TLS
    id: its first ``<tlLogic>``, the one SUMO starts."""
    programs: dict[str, ET.Element] = {}
    for logic in network.iter("tlLogic"):
        programs.setdefault(logic.get("id", ""), logic)
    return programs


def read_network_cabinet(path: str | os.PathLike[str], timing: TimingConfig | None = None) -> Cabinet:
    """The cabinets of the SUMO network file ``path``: each traffic light's green states from its
    default program (those of :func:`ernie_deploy.timing.is_green_phase`, in program order), each
    timed by ``timing`` (default: :class:`TimingConfig`'s defaults, as ``ernie-traffic deploy
    cabinet`` writes without ``--config``). Named like the toolkit names a network file: its file
    name without ``.net.xml``.

    Read with the standard library's ElementTree, which only builds elements: it fetches no
    external entity and runs nothing, and its expat (>= 2.4.1) refuses entity-expansion bombs."""
    source = Path(path)
    try:
        root = ET.parse(source).getroot()
    except OSError as exc:
        raise CabinetError(f"{source}: cannot read: {exc.strerror}") from None
    except ET.ParseError as exc:
        raise CabinetError(f"{source}: not well-formed XML: {exc}") from None
    if root.tag != "net":
        raise CabinetError(f"{source}: not a SUMO network (root element <{root.tag}>, expected <net>)")
    intersections = {}
    for tls, logic in default_programs(root).items():
        greens = tuple(s for s in (p.get("state", "") for p in logic.iter("phase")) if is_green_phase(s))
        if greens:
            intersections[tls] = CabinetIntersection(greens, timing or TimingConfig())
    if not intersections:
        raise CabinetError(f"{source}: the network has no traffic lights with a green phase")
    return Cabinet(source.name.removesuffix(".net.xml"), intersections)


def check_fits(bundle: Bundle, cabinet: Cabinet, intersections: Iterable[str] | None = None) -> None:
    """Raise :class:`BundleError` (naming the intersection and the value) unless the bundle's
    ``intersections`` (all by default) fit ``cabinet`` (see the module docstring)."""
    source = bundle.root / MANIFEST_NAME
    for tls in intersections if intersections is not None else bundle.intersections:
        own = cabinet.intersections.get(tls)
        if own is None:
            raise BundleError(f"{source}: intersection {tls}: the cabinet has no intersection {tls!r}")
        problem = _misfit(bundle.intersections[tls].green_states, bundle.intersections[tls].timing, own)
        if problem:
            raise BundleError(f"{source}: intersection {tls}: {problem}")


def _misfit(green_states: tuple[str, ...], timing: TimingConfig, own: CabinetIntersection) -> str | None:
    if len(green_states) != len(own.green_states):
        return f"{len(green_states)} green phases, the cabinet's table has {len(own.green_states)}"
    for phase, (asked, permitted) in enumerate(zip(green_states, own.green_states, strict=True), start=1):
        if asked != permitted:
            where = "is not in the cabinet's table" if asked not in own.green_states else "is out of order"
            return f"green phase {phase} {asked!r} {where} (the cabinet's phase {phase} is {permitted!r})"
    floors = {
        "yellow_time": max(own.timing.yellow_time, MIN_YELLOW_S),
        "red_clearance": own.timing.red_clearance,
        "min_green": own.timing.min_green,
    }
    for key, floor in floors.items():
        asked_s = getattr(timing, key)
        if asked_s < floor - _TOLERANCE_S:
            return f"timing.{key} {asked_s:g} s is below the cabinet's minimum of {floor:g} s"
    return None
