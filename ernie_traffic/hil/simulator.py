"""The hardware-in-the-loop simulator: SUMO plays the street, one virtual signal controller with an
SNMP agent per signalised intersection plays the cabinet.

The street is :class:`TrafficSignalEnv` on TraCI (so ``sumo-gui`` can watch): the same scenario,
detectors, signal timer and metrics as training and in-process evaluation. Each decision interval
is one NTCIP detector sample period. Per period the simulator

1. publishes every intersection's detector sample under a new ``volumeOccupancySequence``;
2. in lockstep mode waits until every connected runtime has commanded for that sample (or the
   deadline passes); in real-time mode it waits until the wall clock has caught up;
3. asks each controller for its green (the runtime's command, or the fixed-time plan once the
   watchdog has expired) and simulates the period.

SUMO itself logs every signal state it shows (``SaveTLSSwitchStates``) to ``signal_log``, which is
what :mod:`ernie_traffic.hil.safety` checks.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
import traci.constants as tc

from ernie_traffic.envs.traffic.env import TrafficSignalEnv
from ernie_traffic.errors import UserInputError
from ernie_traffic.hil.agent import SnmpAgent
from ernie_traffic.hil.config import HilConfig
from ernie_traffic.hil.controller import DetectorSample, VirtualController
from ernie_traffic.hil.safety import check_signal_log

# What the NTCIP volume and occupancy objects need, subscribed on the environment's detector sources;
# vehicles and queue come from the environment's own readings.
_NTCIP_VARIABLES = (tc.LAST_STEP_OCCUPANCY, tc.LAST_STEP_VEHICLE_ID_LIST)


@dataclass
class HilResult:
    """What a run measured: the env's traffic metrics and how the control loop behaved (filled in
    as the run goes)."""

    signal_log: Path
    ports: dict[str, int]
    metrics: dict[str, float] = field(default_factory=dict)
    decisions: int = 0
    simulated_s: float = 0.0
    wall_s: float = 0.0
    commands: dict[str, int] = field(default_factory=dict)  # SET commands per intersection
    late_periods: int = 0  # lockstep periods that ended at the deadline with a connected runtime silent
    # (simulated time, tls, "remote" | "fixed_time", time of the last command or None)
    mode_changes: list[tuple[float, str, str, float | None]] = field(default_factory=list)

    @property
    def speedup(self) -> float:
        return self.simulated_s / self.wall_s if self.wall_s > 0 else float("inf")


def write_tls_log_request(path: Path, tls_ids: list[str], destination: Path) -> Path:
    """An additional file that makes SUMO log each TLS state switch it shows to ``destination``."""
    lines = ["<additional>"]
    for tls in tls_ids:
        lines.append(
            f"  <timedEvent type={quoteattr('SaveTLSSwitchStates')} source={quoteattr(tls)} "
            f"dest={quoteattr(str(destination.resolve()))}/>"
        )
    lines.append("</additional>\n")
    path.write_text("\n".join(lines))
    return path


class HilSimulator:
    """Runs one HIL episode; agents listen on ``config.host:config.base_port + i`` while it runs.

    Example::

        result = asyncio.run(HilSimulator(HilConfig()).run())
        print(result.metrics["mean_delay"], result.speedup)
    """

    def __init__(self, config: HilConfig):
        self.config = config
        self._workdir = Path(tempfile.mkdtemp(prefix="ernie-hil-"))
        self.signal_log = (config.signal_log or self._workdir / "signal_states.xml").resolve()
        self.signal_log.parent.mkdir(parents=True, exist_ok=True)
        probe = TrafficSignalEnv(config.traffic)  # reads the network only; SUMO starts at reset
        self.tls_ids = sorted(probe.possible_agents)
        probe.close()
        request = write_tls_log_request(self._workdir / "tls_log.add.xml", self.tls_ids, self.signal_log)
        traffic = config.traffic.model_copy(
            update={"additional_files": [*config.traffic.additional_files, request]}
        )
        self.env = TrafficSignalEnv(traffic)
        self.ports = {tls: config.base_port + i for i, tls in enumerate(self.tls_ids)}
        self._command_arrived = asyncio.Event()

    async def run(self) -> HilResult:
        env, config = self.env, self.config
        env.reset(seed=config.traffic.seed)
        self._subscribe_ntcip_sources()
        controllers = {
            tls: VirtualController(
                env.intersections[tls], env.timers[tls], config.watchdog_s, config.traffic.decision_interval
            )
            for tls in self.tls_ids
        }
        agents = await self._open_agents(controllers)
        previous_ids: dict[str, list[set[str]]] = {}
        self._publish(controllers, agents, previous_ids)
        remote = dict.fromkeys(controllers, False)
        result = HilResult(signal_log=self.signal_log, ports=self.ports)
        started = time.perf_counter()
        try:
            for decision in range(env.n_decisions):
                if config.mode == "lockstep":
                    timeout = config.startup_timeout_s if decision == 0 else config.lockstep_deadline_s
                    result.late_periods += not await self._wait_for_commands(
                        controllers, decision == 0, timeout
                    )
                else:
                    wall_clock_s = started + decision * config.traffic.decision_interval
                    await asyncio.sleep(max(0.0, wall_clock_s - time.perf_counter()))
                for tls, controller in controllers.items():
                    if controller.remote != remote[tls]:
                        remote[tls] = controller.remote
                        mode = "remote" if controller.remote else "fixed_time"
                        result.mode_changes.append((controller.now_s, tls, mode, controller.last_command_s))
                env.step({tls: c.wanted_green() for tls, c in controllers.items()})
                for controller in controllers.values():
                    controller.now_s += config.traffic.decision_interval
                result.decisions += 1
                if env.agents:
                    self._publish(controllers, agents, previous_ids)
                await asyncio.sleep(0)  # let agents answer between periods even without waiting
            result.wall_s = time.perf_counter() - started
            result.simulated_s = result.decisions * config.traffic.decision_interval
            result.metrics = env.episode_metrics()
            result.commands = {tls: c.commands for tls, c in controllers.items()}
        finally:
            for agent in agents:
                await agent.close()
            env.close()
        return result

    def summary(self, result: HilResult) -> dict[str, Any]:
        """What ``deploy simulate`` reports of a run: the traffic metrics, how the control loop went,
        and the safety violations found in the signal log SUMO wrote."""
        env = self.env
        return {
            "metrics": result.metrics,
            "decisions": result.decisions,
            "simulated_s": result.simulated_s,
            "wall_s": round(result.wall_s, 3),
            "speedup": round(result.speedup, 1),
            "commands": result.commands,
            "late_periods": result.late_periods,
            "mode_changes": result.mode_changes,
            "signal_log": str(result.signal_log),
            "safety_violations": check_signal_log(result.signal_log, env.intersections, env.timing),
        }

    async def _open_agents(self, controllers: dict[str, VirtualController]) -> list[SnmpAgent]:
        agents: list[SnmpAgent] = []
        host, snmp = self.config.host, self.config.snmp
        try:
            for tls, controller in controllers.items():
                agents.append(SnmpAgent(controller, host, self.ports[tls], snmp, self._command_arrived.set))
        except Exception as error:
            for agent in agents:
                await agent.close()
            self.env.close()
            raise UserInputError(
                f"cannot open an SNMP agent on {host}:{self.ports[tls]} for {tls}: {error}"
            ) from None
        return agents

    async def _wait_for_commands(
        self, controllers: dict[str, VirtualController], startup: bool, timeout_s: float
    ) -> bool:
        """Wait until every connected runtime (every runtime at startup) commanded for the current
        sample; False if the deadline passed first."""
        deadline = time.perf_counter() + timeout_s
        while True:
            waiting = [
                c
                for c in controllers.values()
                if (startup or c.remote) and c.commanded_sequence != c.sequence
            ]
            if not waiting:
                return True
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return False
            self._command_arrived.clear()
            try:
                await asyncio.wait_for(self._command_arrived.wait(), remaining)
            except TimeoutError:
                return False

    def _subscribe_ntcip_sources(self) -> None:
        """Subscribe to what the environment's detectors read (``DetectorBank.sources_in``)."""
        api, bank = self.env.episode.api, self.env.detectors  # type: ignore[union-attr]
        self._ntcip_domain = bank.domain(api)
        self._ntcip_sources = {t: bank.sources_in[bank.incoming[t]] for t in self.tls_ids}
        for sources in self._ntcip_sources.values():
            for source in sources:
                self._ntcip_domain.subscribe(source, _NTCIP_VARIABLES)

    def _publish(
        self,
        controllers: dict[str, VirtualController],
        agents: list[SnmpAgent],
        previous_ids: dict[str, list[set[str]]],
    ) -> None:
        """Give every controller the detector sample of the period that just ended (vehicles and
        queue exactly as the environment read them for its observations, volume and occupancy from
        the NTCIP subscription), then notify the runtimes: all samples first, so that no runtime's
        requests compete with the publishing of the others."""
        bank = self.env.detectors
        results = self._ntcip_domain.getAllSubscriptionResults()
        for tls, controller in controllers.items():
            lanes = bank.incoming[tls]
            readings = [results[source] for source in self._ntcip_sources[tls]]
            ids_now = [set(r[tc.LAST_STEP_VEHICLE_ID_LIST]) for r in readings]
            ids_before = previous_ids.get(tls, [set() for _ in readings])
            previous_ids[tls] = ids_now
            controller.publish(
                DetectorSample(
                    volume=np.array([len(b - n) for b, n in zip(ids_before, ids_now, strict=True)]),
                    occupancy=np.array([r[tc.LAST_STEP_OCCUPANCY] / 100.0 for r in readings]),
                    vehicles=bank.counts_in[lanes].copy(),
                    queue=bank.queues_in[lanes].copy(),
                )
            )
        if self.config.notify_samples:
            for agent in agents:
                agent.notify_sample()
