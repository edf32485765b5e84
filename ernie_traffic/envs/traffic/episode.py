"""One episode's SUMO: its command line, starting and stopping it through libsumo (in-process) or
TraCI (a subprocess, also for the GUI), and the :class:`Episode` view that reward functions and
perturbations get of it, as sumo-rl's reward functions get a ``TrafficSignal``, never the environment.

libsumo runs one simulation per process; :class:`Simulation` keeps track of the live one so a
second environment gets a clear error instead of silently taking over the first one's simulation.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ernie_traffic.envs.traffic.config import TrafficEnvConfig
from ernie_traffic.envs.traffic.detectors import DetectorBank
from ernie_traffic.envs.traffic.intersections import Intersection
from ernie_traffic.errors import UserInputError
from ernie_traffic.scenarios import Scenario
from ernie_traffic.utils.sumo_tools import sumo_binary

_live_libsumo_owner: object | None = None
_traci_labels = itertools.count()


def sumo_args(
    config: TrafficEnvConfig, scenario: Scenario, seed: int, tripinfo: Path, additional: list[Path]
) -> list[str]:
    """``scenario`` in 1 s steps, every vehicle in ``tripinfo`` (unfinished, never inserted ones too)."""
    args = [
        "-n", str(scenario.net_file),
        "-r", ",".join(str(r) for r in scenario.route_files),
        "--begin", f"{scenario.begin}",
        "--step-length", "1",
        "--seed", str(seed),
        "--time-to-teleport", f"{config.time_to_teleport}",
        "--tripinfo-output", str(tripinfo),
        "--tripinfo-output.write-unfinished",
        "--tripinfo-output.write-undeparted",
        "--no-step-log", "--no-warnings",
    ]  # fmt: skip
    if additional:
        args += ["-a", ",".join(str(a) for a in additional)]
    if config.gui:
        args += ["--start", "--quit-on-end"]
    return args


class Simulation:
    """A running SUMO; ``.api`` is the libsumo module or a TraCI connection (same domains)."""

    def __init__(self, owner: object, config: TrafficEnvConfig, scenario: Scenario, args: list[str]):
        global _live_libsumo_owner
        self.backend = config.backend
        binary = str(sumo_binary("sumo-gui" if config.gui else "sumo"))
        if self.backend == "libsumo":
            if _live_libsumo_owner is not None and _live_libsumo_owner is not owner:
                raise UserInputError(
                    "libsumo runs one simulation per process and another traffic environment is still "
                    "open: close() it first, or use backend='traci'"
                )
            import libsumo

            self._start(lambda: libsumo.start([binary, *args]), libsumo.close, scenario)
            _live_libsumo_owner = owner
            self._owner = owner
            self.api: Any = libsumo
        else:
            import traci

            label = f"ernie-{next(_traci_labels)}"
            self._start(lambda: traci.start([binary, *args], label=label), lambda: None, scenario)
            self.api = traci.getConnection(label)
        self.closed = False

    @staticmethod
    def _start(start: Any, clean_up: Any, scenario: Scenario) -> None:
        try:
            start()
        except Exception as error:  # libsumo.TraCIException / traci.FatalTraCIError carry SUMO's message
            with contextlib.suppress(Exception):  # a half-loaded libsumo must be closed before the next start
                clean_up()
            message = " ".join(str(error).split()) or type(error).__name__
            files = ", ".join(str(p) for p in (scenario.net_file, *scenario.route_files))
            raise UserInputError(f"SUMO failed to start on {files}: {message}") from None

    def close(self) -> None:
        """Close the simulation (SUMO then writes its tripinfo for unfinished vehicles)."""
        global _live_libsumo_owner
        if self.closed:
            return
        self.closed = True
        try:
            # A simulation that already died (a SUMO error mid-episode) cannot be closed again; the
            # next reset() must still work.
            with contextlib.suppress(Exception):
                self.api.close()
        finally:
            if self.backend == "libsumo" and _live_libsumo_owner is self._owner:
                _live_libsumo_owner = None


@dataclass(frozen=True)
class Episode:
    """What the hooks see of one episode, from reset to its end."""

    api: Any  # the running SUMO: the libsumo module or a TraCI connection (same domains)
    intersections: dict[str, Intersection]  # one per agent, in agent order
    detectors: DetectorBank  # the true readings (before sensor perturbations) of the last decision
    n_decisions: int
