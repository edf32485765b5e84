"""The multi-agent traffic-signal environment: one agent per signalised intersection, on SUMO,
with the PettingZoo Parallel API."""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from ernie_deploy.cabinet import Cabinet, CabinetIntersection
from ernie_deploy.features import ObservationAssembler, ObservationLayout
from ernie_deploy.timing import SignalTimer, TimingConfig
from gymnasium import spaces
from pettingzoo import ParallelEnv

from ernie_traffic.envs.traffic.config import TrafficEnvConfig
from ernie_traffic.envs.traffic.detectors import DetectorBank
from ernie_traffic.envs.traffic.episode import Episode, Simulation, sumo_args
from ernie_traffic.envs.traffic.intersections import Intersection, read_intersections
from ernie_traffic.envs.traffic.metrics import tripinfo_metrics
from ernie_traffic.envs.traffic.perturbations import Adversary, build_perturbations
from ernie_traffic.envs.traffic.programs import CABINET_PROGRAM_ID, write_cabinet_programs
from ernie_traffic.envs.traffic.rewards import REWARDS
from ernie_traffic.errors import UserInputError
from ernie_traffic.scenarios import resolve_scenario


class TrafficSignalEnv(ParallelEnv):
    """Traffic-signal control on a SUMO network, one agent per traffic light.

    Each step applies one requested green phase per agent through the signal timer (yellow, red
    clearance, min/max green) and simulates ``decision_interval`` seconds. Observations, the global
    state and metrics are documented in ``docs/environment.md``.

    Example::

        env = TrafficSignalEnv(TrafficEnvConfig(network="grid2x2", episode_seconds=600))
        obs, infos = env.reset(seed=0)
        while env.agents:
            obs, rewards, terms, truncs, infos = env.step({a: 0 for a in env.agents})
        print(env.episode_metrics())
        env.close()
    """

    metadata: ClassVar[dict[str, Any]] = {
        "name": "ernie_traffic_signals_v0",
        "render_modes": ["human"],
        "is_parallelizable": True,
    }

    def __init__(self, config: TrafficEnvConfig | None = None):
        self.config = config = config or TrafficEnvConfig()
        if config.reward not in REWARDS:
            raise UserInputError(f"unknown reward {config.reward!r}; known: {', '.join(REWARDS)}")
        self.scenario = resolve_scenario(config.network, config.route_files)
        for extra in config.additional_files:
            if not Path(extra).is_file():
                raise UserInputError(f"{extra}: additional file not found")
        self.intersections: dict[str, Intersection] = read_intersections(self.scenario.net_file)
        self.possible_agents: list[str] = list(self.intersections)
        self.agents: list[str] = []
        self.render_mode = "human" if config.gui else None
        self.timing = TimingConfig(
            config.yellow_time, config.red_clearance, config.min_green, config.max_green
        )
        self.begin = self.scenario.begin
        self.episode_seconds = config.episode_seconds or (self.scenario.end - self.scenario.begin)
        self.n_decisions = math.ceil(self.episode_seconds / config.decision_interval)

        self.detectors = DetectorBank(self.intersections, config.detector_length)
        self.layouts = {
            agent: ObservationLayout(
                detector_ids=tuple(self.detectors.incoming_ids[self.detectors.incoming[agent]]),
                detector_capacity=self.detectors.capacity[agent],
                n_green_phases=tls.n_actions,
                max_green=config.max_green,
            )
            for agent, tls in self.intersections.items()
        }
        self.observation_spaces = {
            a: spaces.Box(0.0, 1.0, (layout.size,), np.float32) for a, layout in self.layouts.items()
        }
        self.action_spaces = {a: spaces.Discrete(tls.n_actions) for a, tls in self.intersections.items()}
        self.max_observation_size = max(layout.size for layout in self.layouts.values())
        self.max_actions = max(tls.n_actions for tls in self.intersections.values())
        n_actions = np.array([tls.n_actions for tls in self.intersections.values()])
        self.action_mask = np.arange(self.max_actions) < n_actions[:, None]
        self.state_space = spaces.Box(
            0.0, 1.0, (len(self.possible_agents) * self.max_observation_size,), np.float32
        )

        self.perturbations = build_perturbations(config.perturbations)
        self.reward_function = REWARDS[config.reward]()
        self.adversary: Adversary | None = None
        self.simulation: Simulation | None = None
        self.episode: Episode | None = None  # what the rewards and perturbations see of the episode
        self.timers: dict[str, SignalTimer] = {}
        self.last_observations: dict[str, np.ndarray] = {}
        # The incoming detector readings after the sensor perturbations (in detector-bank order): what
        # the observations are built from and what every detector-driven controller reads.
        self.perceived_counts = np.zeros(len(self.detectors.incoming_ids), dtype=np.float32)
        self.perceived_queues = np.zeros(len(self.detectors.incoming_ids), dtype=np.float32)
        self.decision_count = 0
        self._workdir: Path | None = None
        self._next_seed = config.seed
        self._metrics: dict[str, float] | None = None
        self._state = np.zeros(self.state_space.shape, dtype=np.float32)
        self._assembler = ObservationAssembler([self.layouts[a] for a in self.possible_agents])
        self._state_at = np.concatenate(
            [
                row * self.max_observation_size + np.arange(self.layouts[a].size)
                for row, a in enumerate(self.possible_agents)
            ]
        )
        self._green_of_state = {
            a: {state: g for g, state in enumerate(tls.green_states)} for a, tls in self.intersections.items()
        }

    # ----------------------------------------------------------------- PettingZoo API
    def observation_space(self, agent: str) -> spaces.Box:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        return self.action_spaces[agent]

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """Start a new episode: a fresh SUMO run seeded with ``seed`` (default: the config's seed,
        then one more per reset)."""
        self._close_simulation()
        episode_seed = self._next_seed if seed is None else seed
        self._next_seed = episode_seed + 1
        for position, perturbation in enumerate(self.perturbations):
            perturbation.seed(episode_seed, position)
        tripinfo, additional = self._file("tripinfo.xml"), self._additional()
        args = sumo_args(self.config, self.scenario, episode_seed, tripinfo, additional)
        args += [arg for perturbation in self.perturbations for arg in perturbation.sumo_args()]
        self.simulation = Simulation(self, self.config, self.scenario, args)
        self.episode = Episode(self.simulation.api, self.intersections, self.detectors, self.n_decisions)
        self._time = self.begin
        self._metrics = None
        self._queue_sum = 0.0
        self.decision_count = 0
        self.timers = {a: SignalTimer(tls.green_states, self.timing) for a, tls in self.intersections.items()}
        self._shown: dict[str, str] = {}
        if self.config.control == "agents":
            self._show_timer_states()
        else:
            for agent in self.possible_agents:
                self.episode.api.trafficlight.setProgram(agent, CABINET_PROGRAM_ID)
        self._last_green = dict.fromkeys(self.possible_agents, 0)
        for perturbation in self.perturbations:
            perturbation.on_reset(self.episode)
        self.reward_function.reset(self.episode)
        self.agents = list(self.possible_agents)
        observations = self._observe()
        return observations, {a: {} for a in self.agents}

    def step(
        self, actions: dict[str, int]
    ) -> tuple[
        dict[str, np.ndarray], dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict[str, Any]]
    ]:
        if self.simulation is None or not self.agents:
            raise RuntimeError("step() called before reset() or after the episode ended")
        infos: dict[str, dict[str, Any]] = {a: {"action_replaced": False} for a in self.agents}
        requested = {a: actions.get(a, self.timers[a].target) for a in self.agents}
        for perturbation in self.perturbations:
            perturbation.actions(requested, infos, self.last_observations, self.adversary)
        if self.config.control == "agents":
            for agent, action in requested.items():
                self.timers[agent].request(action)
            self._show_timer_states()
            self._simulate_with_timers(self.config.decision_interval)
        else:
            self._time += self.config.decision_interval
            self.simulation.api.simulationStep(self._time)
        self.decision_count += 1
        observations = self._observe()
        reward_values = self.reward_function(self.episode)
        rewards = {a: float(r) for a, r in zip(self.possible_agents, reward_values, strict=True)}
        done = self.decision_count >= self.n_decisions
        terminations = dict.fromkeys(self.agents, False)
        truncations = dict.fromkeys(self.agents, done)
        if done:
            self._finish_episode()
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def state(self) -> np.ndarray:
        """Global state: every agent's last observation, zero-padded to the longest one, concatenated
        in ``possible_agents`` order (shape ``[n_agents * max_observation_size]``)."""
        return self._state.copy()

    def render(self) -> None:
        """The GUI (``gui=True``, TraCI backend) renders itself while the simulation runs."""

    def close(self) -> None:
        self._close_simulation()
        self.agents = []
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # ----------------------------------------------------------------- beyond PettingZoo
    def set_adversary(self, adversary: Adversary | None) -> None:
        """The callback the ``malicious_agents`` perturbation uses instead of random actions."""
        self.adversary = adversary

    def episode_metrics(self) -> dict[str, float]:
        """Traffic metrics of the episode from SUMO's tripinfo (see ``metrics.tripinfo_metrics``)
        plus ``mean_queue`` (halting vehicles per incoming lane, averaged over decisions). Called
        before the episode's end, it ends the episode now (vehicles still driving count as unfinished)."""
        if self._metrics is None:
            if self.simulation is None:
                raise RuntimeError("episode_metrics() needs an episode: call reset() and step() first")
            self._finish_episode()
            self.agents = []
        assert self._metrics is not None
        return dict(self._metrics)

    @property
    def cabinet(self) -> Cabinet:
        """What this environment's signals enforce, as a signal cabinet would: each intersection's
        green states from the network's program and the configured timing. A bundle runs here only
        if it fits this (``ernie_deploy.cabinet.check_fits``); the bundle's own values never time it."""
        return Cabinet(
            self.scenario.name,
            {tls: CabinetIntersection(i.green_states, self.timing) for tls, i in self.intersections.items()},
        )

    @property
    def sim_time(self) -> float:
        return self._time

    # ----------------------------------------------------------------- internals
    def _show_timer_states(self) -> None:
        trafficlight = self.simulation.api.trafficlight  # type: ignore[union-attr]
        for agent, timer in self.timers.items():
            if self._shown.get(agent) != timer.state:
                trafficlight.setRedYellowGreenState(agent, timer.state)
                self._shown[agent] = timer.state

    def _simulate_with_timers(self, seconds: float) -> None:
        """Simulate ``seconds``, stopping exactly where some timer changes its state to show it.
        Only the timers that change are touched on the way; all catch up at the end."""
        api = self.simulation.api  # type: ignore[union-attr]
        set_state = api.trafficlight.setRedYellowGreenState
        start, end = self._time, self._time + seconds
        timers = self.timers
        updated = dict.fromkeys(timers, start)  # sim time each timer has been advanced to
        due = {a: start + t.seconds_to_change() for a, t in timers.items()}
        while True:
            # SUMO steps are whole seconds: a change due mid-second is shown at the next step.
            next_due = min(due.values())
            now = end if next_due >= end else max(self._time + 1.0, math.ceil(next_due - 1e-9))
            api.simulationStep(now)
            self._time = now
            if now >= end - 1e-9:
                break
            for agent in [a for a, t in due.items() if t <= now + 1e-9]:
                timer = timers[agent]
                timer.advance(now - updated[agent])
                updated[agent] = now
                due[agent] = now + timer.seconds_to_change()
                if self._shown[agent] != timer.state:
                    set_state(agent, timer.state)
                    self._shown[agent] = timer.state
        for agent, timer in timers.items():
            timer.advance(end - updated[agent])
        self._show_timer_states()

    def _observe(self) -> dict[str, np.ndarray]:
        bank = self.detectors
        bank.read(self.simulation.api)  # type: ignore[union-attr]
        self._queue_sum += float(bank.queues_in.mean()) if len(bank.queues_in) else 0.0
        # Sensor perturbations act on copies: rewards and metrics keep the true readings.
        counts, queues = bank.counts_in.copy(), bank.queues_in.copy()
        for perturbation in self.perturbations:
            perturbation.readings(self.decision_count, counts, queues)
        self.perceived_counts, self.perceived_queues = counts, queues
        status = [self._signal_status(agent) for agent in self.possible_agents]
        greens, in_transition, time_in_stage = (np.array(column) for column in zip(*status, strict=True))
        flat = self._assembler.assemble(counts, queues, greens, in_transition, time_in_stage)
        observations = dict(zip(self.possible_agents, self._assembler.split(flat), strict=True))
        self._state = np.zeros(self.state_space.shape, dtype=np.float32)
        self._state[self._state_at] = flat
        self.last_observations = observations
        return observations

    def _signal_status(self, agent: str) -> tuple[int, bool, float]:
        """(green phase index, in yellow/red, seconds in the current stage) of one intersection."""
        if self.config.control == "agents":
            timer = self.timers[agent]
            return timer.green, timer.in_transition, timer.time_in_stage
        trafficlight = self.simulation.api.trafficlight  # type: ignore[union-attr]
        green = self._green_of_state[agent].get(trafficlight.getRedYellowGreenState(agent))
        if green is not None:
            self._last_green[agent] = green
        return self._last_green[agent], green is None, trafficlight.getSpentDuration(agent)

    def _finish_episode(self) -> None:
        decisions = max(1, self.decision_count + 1)  # the reset observation counts too
        mean_queue = self._queue_sum / decisions
        self.detectors.read_outgoing()  # still readable after the simulation closes
        self._close_simulation()
        self._metrics = tripinfo_metrics(self._file("tripinfo.xml")) | {"mean_queue": mean_queue}

    def _close_simulation(self) -> None:
        if self.simulation is not None:
            self.simulation.close()
            self.simulation = None

    def _file(self, name: str) -> Path:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="ernie-traffic-"))
        return self._workdir / name

    def _additional(self) -> list[Path]:
        """SUMO's additional files: the scenario's, the detectors', the user's, the cabinet programs."""
        user_files = [Path(p) for p in self.config.additional_files]
        detector_files = self.detectors.write_additional(self._file("detectors.add.xml"))
        additional = [*self.scenario.additional_files, *detector_files, *user_files]
        if self.config.control != "agents":  # loaded last, so its program is the one SUMO starts with
            path, actuated = self._file("cabinet-programs.add.xml"), self.config.control == "actuated"
            additional.append(
                write_cabinet_programs(path, self.intersections, self.timing, user_files, actuated)
            )
        return additional
