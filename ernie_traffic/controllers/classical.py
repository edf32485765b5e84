"""Classical signal controllers, the bar every learner is judged against.

- fixed-time: the network's own signal program, run by SUMO;
- actuated: SUMO's gap-based actuated control of the same phases, on SUMO's own induction loops
  (a reference: sensor perturbations do not reach it);
- actuated-detector: gap-out / max-out / recall actuated control on the environment's own
  detectors, through the same signal timer as learned controllers (sensor faults reach it);
- max-pressure: every decision, the green phase whose movements have the largest
  Σ (vehicles on the incoming detector − vehicles on the outgoing detector), as perceived;
- webster: a fixed-time program whose cycle and splits SUMO's ``tlsCycleAdaptation.py``
  computes from the demand (Webster's formula), loaded as an additional file.

``random`` (a uniformly random phase per decision) is the sanity floor, not a real controller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from ernie_deploy.features import VEHICLE_SPACING_M

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


def phase_detectors(env: Any, agent: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per green phase of ``agent``, one entry per movement it lets through: the detector-bank
    indices of the movements' incoming detectors and of their outgoing detectors."""
    tls, bank = env.intersections[agent], env.detectors
    incoming_at = {lane: bank.incoming[agent].start + i for i, lane in enumerate(tls.incoming_lanes)}
    outgoing_at = dict(zip(tls.outgoing_lanes, bank.outgoing[agent], strict=True))
    return [
        (
            np.array([incoming_at[lane] for lane, _ in phase], dtype=np.int64),
            np.array([outgoing_at[lane] for _, lane in phase], dtype=np.int64),
        )
        for phase in tls.movements
    ]


@dataclass
class MaxPressureController:
    """Max-pressure (Varaiya 2013) over each intersection's green-phase movements, on the detector
    readings as perceived (sensor noise and failed detectors included, as in the field)."""

    name: str = "max-pressure"
    control: str = "agents"
    additional_files: tuple[str, ...] = ()
    _env: Any = field(default=None, repr=False)
    _phases: dict[str, list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict, repr=False)

    def reset(self, env: Any) -> None:
        self._env = env
        self._phases = {agent: phase_detectors(env, agent) for agent in env.possible_agents}

    def act(self, observations: dict[str, np.ndarray]) -> dict[str, int]:
        incoming = self._env.perceived_counts
        outgoing = self._env.detectors.outgoing_counts_from(incoming)
        return {
            agent: int(np.argmax([incoming[i].sum() - outgoing[o].sum() for i, o in self._phases[agent]]))
            for agent in observations
        }


@dataclass
class ActuatedDetectorController:
    """Fully actuated control, as a signal cabinet runs it, on the environment's own detectors
    (perceived readings: sensor noise and failures reach it) and through its signal timer (the
    same requests and timing as a learned controller, so it deploys the same way).

    Every decision, per intersection:

    - the current green extends while a vehicle is in the stop-line zone (the last ``zone_m``
      metres) of a served incoming lane; after ``passage_time`` seconds without one it gaps out;
      at the last decision before max green it maxes out;
    - on gap- or max-out it requests the next green phase of the table, in order, with a call (a
      vehicle anywhere on one of its detectors); with no call anywhere it rests in the current green.
      Min green, yellow and red clearance are the signal timer's;
    - a detector whose reading has not changed for ``no_activity_s`` seconds is failed (the
      cabinet's no-activity diagnostic: a dead detector reads a constant). It places a constant
      call and holds its phase's green (max recall) until its reading changes again.

    A detector longer than the zone (the default whole-lane detectors) does not say where its
    moving vehicles are: the zone is taken to hold its halting vehicles (a queue starts at the stop
    line) and its moving ones in proportion ``zone_m`` / detector length, and calls from 0.5 vehicles.

    Decisions sample the detectors every ``decision_interval`` seconds, so gaps are measured in
    whole intervals: it is meant for a 1 s interval, where it behaves like a cabinet's passage timer.
    """

    name: str = "actuated-detector"
    control: str = "agents"
    additional_files: tuple[str, ...] = ()
    zone_m: float = 30.0
    passage_time: float = 3.0
    no_activity_s: float = 120.0
    _env: Any = field(default=None, repr=False)

    def reset(self, env: Any) -> None:
        self._env = env
        self._detectors = {
            agent: [np.unique(incoming) for incoming, _ in phase_detectors(env, agent)]
            for agent in env.possible_agents
        }
        capacity = np.concatenate([env.detectors.capacity[agent] for agent in env.possible_agents])
        self._zone_share = np.minimum(1.0, self.zone_m / (capacity * VEHICLE_SPACING_M))
        n = len(env.detectors.incoming_ids)
        self._last_reading = np.full((2, n), -1.0, dtype=np.float32)
        self._unchanged_s = np.zeros(n)
        self._gap_s = dict.fromkeys(env.possible_agents, 0.0)
        self.failed = np.zeros(n, dtype=bool)

    def act(self, observations: dict[str, np.ndarray]) -> dict[str, int]:
        env = self._env
        interval = env.config.decision_interval
        counts, queues = env.perceived_counts, env.perceived_queues
        reading = np.stack((counts, queues))
        unchanged = (reading == self._last_reading).all(axis=0)
        self._unchanged_s = np.where(unchanged, self._unchanged_s + interval, 0.0)
        self._last_reading = reading
        self.failed = self._unchanged_s >= self.no_activity_s
        halting = np.minimum(queues, counts)
        in_zone = halting + (counts - halting) * self._zone_share
        calling = (counts >= 0.5) | self.failed
        extending = (in_zone >= 0.5) | self.failed
        return {agent: self._decide(agent, calling, extending, interval) for agent in observations}

    def _decide(self, agent: str, calling: np.ndarray, extending: np.ndarray, interval: float) -> int:
        timer = self._env.timers[agent]
        if timer.in_transition:
            self._gap_s[agent] = 0.0  # the next green starts with a fresh passage timer
            return timer.target
        phases = self._detectors[agent]
        extended = bool(extending[phases[timer.green]].any())
        self._gap_s[agent] = 0.0 if extended else self._gap_s[agent] + interval
        gapped_out = self._gap_s[agent] >= self.passage_time
        maxed_out = timer.time_in_stage + interval >= timer.timing.max_green
        if not (gapped_out or maxed_out):
            return timer.green
        n = len(phases)
        for step in range(1, n):
            candidate = (timer.green + step) % n
            if calling[phases[candidate]].any():
                return candidate
        return timer.green


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


ClassicalName = Literal["fixed-time", "actuated", "actuated-detector", "max-pressure", "webster"]
CLASSICAL: tuple[str, ...] = get_args(ClassicalName)


def classical_controller(
    name: str, network: str, route_files: list[str] | None = None, work_dir: str | Path = "."
) -> Any:
    """A classical controller by name (see :data:`CLASSICAL`)."""
    if name in ("fixed-time", "actuated"):  # SUMO's own programs: control "fixed_time" / "actuated"
        return SumoProgramController(name, name.replace("-", "_"))
    if name == "actuated-detector":
        return ActuatedDetectorController()
    if name == "max-pressure":
        return MaxPressureController()
    if name == "webster":
        return webster(network, route_files, work_dir)
    if name == "random":
        return UniformRandomController()
    raise UserInputError(f"unknown controller {name!r}; known: {', '.join(CLASSICAL)}, random")
