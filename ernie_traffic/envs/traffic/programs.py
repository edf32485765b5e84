"""SUMO signal programs (fixed-time, actuated) under the cabinet's timing.

Every controller is compared under the same safety timing. A learned or max-pressure controller
reaches the street through :class:`~ernie_deploy.timing.SignalTimer` (yellow, red clearance, min
and max green of :class:`~ernie_deploy.timing.TimingConfig`); a SUMO program runs its own phase
list, whose transitions are the network's (often yellow only, no all-red). So the programs SUMO
runs here keep their green phases and green times, and get the timer's transitions between them:
``yellow_time`` of :func:`~ernie_deploy.timing.yellow_state`, then ``red_clearance`` of
:func:`~ernie_deploy.timing.red_clearance_state`. ``TimingConfig(red_clearance=0)`` reproduces
a network whose own transitions are yellow-only.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import quoteattr

from ernie_deploy.timing import TimingConfig, red_clearance_state, yellow_state

from ernie_traffic.envs.traffic.intersections import Intersection
from ernie_traffic.errors import UserInputError

CABINET_PROGRAM_ID = "ernie_cabinet"


def program_green_times(files: list[Path], intersections: dict[str, Intersection]) -> dict[str, list[float]]:
    """Green times per controlled TLS from the last ``<tlLogic>`` of each in ``files`` (e.g. a Webster
    program), else from the network's own program."""
    times = {tls: [node.phase_durations[g] for g in node.green_phases] for tls, node in intersections.items()}
    for path in files:
        try:
            root = ET.parse(path).getroot()
        except (ET.ParseError, OSError) as error:
            raise UserInputError(f"{path}: cannot read additional file: {error}") from None
        for logic in root.iter("tlLogic"):
            tls = logic.get("id", "")
            if tls not in intersections:
                continue
            greens = [
                float(p.get("duration", "0"))
                for p in logic.iter("phase")
                if p.get("state") in intersections[tls].green_states
            ]
            if len(greens) == intersections[tls].n_actions:
                times[tls] = greens
    return times


def write_cabinet_programs(
    path: Path,
    intersections: dict[str, Intersection],
    timing: TimingConfig,
    program_files: list[Path],
    actuated: bool,
) -> Path:
    """An additional file defining program :data:`CABINET_PROGRAM_ID` for every TLS: its green phases
    in table order, timed from ``program_files`` (:func:`program_green_times`), each followed by the
    timer's transition to the next. ``actuated``: SUMO's gap actuation keeps greens in [min, max]."""
    green_times = program_green_times(program_files, intersections)
    lines = ["<additional>"]
    kind = "actuated" if actuated else "static"
    for tls, node in intersections.items():
        lines.append(
            f'  <tlLogic id={quoteattr(tls)} programID="{CABINET_PROGRAM_ID}" type="{kind}" offset="0">'
        )
        greens = node.green_states
        for index, (state, seconds) in enumerate(zip(greens, green_times[tls], strict=True)):
            bounds = f' minDur="{timing.min_green:g}" maxDur="{timing.max_green:g}"' if actuated else ""
            lines.append(f'    <phase duration="{seconds:g}" state="{state}"{bounds}/>')
            following = greens[(index + 1) % len(greens)]
            for transition, duration in (
                (yellow_state(state, following), timing.yellow_time),
                (red_clearance_state(state, following), timing.red_clearance),
            ):
                if transition != state and duration > 0:
                    lines.append(f'    <phase duration="{duration:g}" state="{transition}"/>')
        lines.append("  </tlLogic>")
    lines.append("</additional>\n")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
