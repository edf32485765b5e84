"""Classical signal controllers, the bar every learner is judged against.

- fixed-time: the network's own signal program, run by SUMO;
- actuated: SUMO's gap-based actuated control of the same phases;
- max-pressure: every decision, the green phase whose movements have the largest
  Σ (vehicles on the incoming lane − vehicles on the outgoing lane);
- webster: a fixed-time program whose cycle and splits SUMO's ``tlsCycleAdaptation.py``
  computes from the demand (Webster's formula), loaded as an additional file.

``random`` (a uniformly random phase per decision) is the sanity floor, not a real controller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ernie_traffic.errors import UserInputError
from ernie_traffic.scenarios import Scenario, resolve_scenario
from ernie_traffic.utils.sumo_tools import run_sumo_program, sumo_binary, sumo_tool


@dataclass
class SumoProgramController:
    """Leaves the signals to a SUMO program (``control`` = ``fixed_time`` or ``actuated``)."""

    name: str
    control: str
    additional_files: tuple[str, ...] = ()

    def reset(self, env: Any) -> None:
        pass

    def act(self, observations: dict[str, np.ndarray]) -> dict[str, int]:
        return {}


def fixed_time() -> SumoProgramController:
    return SumoProgramController("fixed-time", "fixed_time")


def actuated() -> SumoProgramController:
    return SumoProgramController("actuated", "actuated")


@dataclass
class MaxPressureController:
    """Max-pressure (Varaiya 2013) over each intersection's green-phase movements."""

    name: str = "max-pressure"
    control: str = "agents"
    additional_files: tuple[str, ...] = ()
    _env: Any = field(default=None, repr=False)

    def reset(self, env: Any) -> None:
        self._env = env

    def act(self, observations: dict[str, np.ndarray]) -> dict[str, int]:
        count = per_decision_cache(self._env.simulation.api.lane.getLastStepVehicleNumber)
        actions = {}
        for agent in observations:
            movements = self._env.intersections[agent].movements
            pressures = [sum(count(i) - count(o) for i, o in phase) for phase in movements]
            actions[agent] = int(np.argmax(pressures))
        return actions


def per_decision_cache(query: Any) -> Any:
    """Memoize a lane query for one decision (lanes are shared by many movements)."""
    cache: dict[str, int] = {}

    def cached(lane: str) -> int:
        if lane not in cache:
            cache[lane] = query(lane)
        return cache[lane]

    return cached


def webster(
    network: str, route_files: list[str] | None = None, out_dir: str | Path = "."
) -> SumoProgramController:
    """A fixed-time controller running the Webster program SUMO computes for the demand."""
    scenario = resolve_scenario(network, route_files)
    out = Path(out_dir) / f"{scenario.name}.webster.add.xml"
    out.parent.mkdir(parents=True, exist_ok=True)
    run_sumo_program(
        [
            sumo_tool("tlsCycleAdaptation.py"),
            "-n", scenario.net_file,
            "-r", ",".join(map(str, routed_demand(scenario, out.parent))),
            "-b", f"{scenario.begin:g}",
            "-o", out,
        ],
        what=f"Webster program for {scenario.name}",
    )  # fmt: skip
    if "<tlLogic" not in out.read_text(encoding="utf-8"):
        raise UserInputError(f"{scenario.name}: tlsCycleAdaptation.py found no traffic through the signals")
    return SumoProgramController("webster", "fixed_time", additional_files=(str(out),))


def routed_demand(scenario: Scenario, work_dir: Path) -> tuple[Path, ...]:
    """The scenario's route files, with origin-destination ``<trip>``s (as in the RESCO networks)
    routed by duarouter first: tlsCycleAdaptation.py counts only vehicles with routes."""
    if not any("<trip " in path.read_text(encoding="utf-8") for path in scenario.route_files):
        return scenario.route_files
    routed = work_dir / f"{scenario.name}.routed.rou.xml"
    run_sumo_program(
        [
            sumo_binary("duarouter"),
            "-n", scenario.net_file,
            "-r", ",".join(map(str, scenario.route_files)),
            "-o", routed,
            "--ignore-errors", "--no-warnings", "--no-step-log",
        ],
        what=f"routing the demand of {scenario.name}",
    )  # fmt: skip
    return (routed,)


@dataclass
class UniformRandomController:
    """A uniformly random green phase per intersection and decision: the floor a learner must beat."""

    seed: int = 0
    name: str = "random"
    control: str = "agents"
    additional_files: tuple[str, ...] = ()
    _env: Any = field(default=None, repr=False)
    _rng: np.random.Generator = field(default_factory=np.random.default_rng, repr=False)

    def reset(self, env: Any) -> None:
        self._env = env
        self._rng = np.random.default_rng(self.seed)

    def act(self, observations: dict[str, np.ndarray]) -> dict[str, int]:
        return {agent: int(self._rng.integers(self._env.action_space(agent).n)) for agent in observations}


CLASSICAL = ("fixed-time", "actuated", "max-pressure", "webster")


def classical_controller(
    name: str, network: str, route_files: list[str] | None = None, work_dir: str | Path = "."
) -> Any:
    """A classical controller by name (see :data:`CLASSICAL`)."""
    if name == "fixed-time":
        return fixed_time()
    if name == "actuated":
        return actuated()
    if name == "max-pressure":
        return MaxPressureController()
    if name == "webster":
        return webster(network, route_files, work_dir)
    if name == "random":
        return UniformRandomController()
    raise UserInputError(f"unknown controller {name!r}; known: {', '.join(CLASSICAL)}, random")
