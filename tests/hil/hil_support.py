"""Helpers of the HIL tests: an SNMP agent on loopback in a background event loop, the simulator
in a thread, runtimes as real separate processes, free loopback ports."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from ernie_deploy.snmp_client import ControllerUnreachable, NtcipClient, SnmpCredentials
from ernie_deploy.timing import SignalTimer, TimingConfig

from ernie_traffic.envs.traffic.intersections import read_intersections
from ernie_traffic.hil.agent import SnmpAgent
from ernie_traffic.hil.config import HilConfig, SnmpSettings
from ernie_traffic.hil.controller import DetectorSample, VirtualController
from ernie_traffic.hil.simulator import HilResult, HilSimulator

ROOT = Path(__file__).resolve().parents[2]
GRID2X2 = ROOT / "networks" / "grid2x2" / "grid2x2.net.xml"


def free_port_block(size: int) -> int:
    """A base port with ``size`` consecutive free UDP ports on loopback (checked by binding)."""
    for _ in range(50):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        base = probe.getsockname()[1]
        probe.close()
        if base + size > 65000:
            continue
        sockets = []
        try:
            for port in range(base, base + size):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no block of free UDP ports on loopback")


class AgentInThread:
    """One virtual controller (intersection A0 of grid2x2) and its SNMP agent, served by an event
    loop in a background thread; the test thread talks to it over real UDP."""

    def __init__(self, settings: SnmpSettings):
        intersection = read_intersections(GRID2X2)["A0"]
        self.timing = TimingConfig(yellow_time=3, red_clearance=2, min_green=5, max_green=60)
        timer = SignalTimer(intersection.green_states, self.timing)
        self.controller = VirtualController(intersection, timer, watchdog_s=15, period_s=5)
        self.port = free_port_block(1)
        self.loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        ready = threading.Event()

        async def serve() -> None:
            self.agent = SnmpAgent(self.controller, "127.0.0.1", self.port, settings, lambda: None)
            await asyncio.sleep(0.05)  # the UDP endpoint is created by the loop
            ready.set()
            await self._stop.wait()
            await self.agent.close()

        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(serve(),), daemon=True)
        self.thread.start()
        assert ready.wait(10), "the agent did not start"

    def publish_sample(self) -> None:
        """Publish an empty detector sample and notify the managers, as the simulator does."""

        def publish() -> None:
            self.controller.publish(DetectorSample.empty(len(self.controller.intersection.incoming_lanes)))
            self.agent.notify_sample()

        self.loop.call_soon_threadsafe(publish)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(10)


def run_cli(
    *args: str, timeout: float = 60, python_flags: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *(python_flags or []), "-m", "ernie_traffic", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(),
        cwd=ROOT,
        check=False,
    )


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "deploy"), env.get("PYTHONPATH", "")])
    return env


def start_runtime(port: int, *extra: str) -> subprocess.Popen[str]:
    """``ernie-traffic deploy run`` for one controller, as its own process."""
    return subprocess.Popen(
        [sys.executable, "-m", "ernie_traffic", "deploy", "run", "--controller", f"127.0.0.1:{port}", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=cli_env(),
        cwd=ROOT,
    )


class SimulatorInThread:
    """The HIL simulator running in a background thread of the test process."""

    def __init__(self, config: HilConfig):
        self.simulator = HilSimulator(config)
        self.result: HilResult | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result = asyncio.run(self.simulator.run())
        except BaseException as error:  # reported by join()
            self.error = error

    def wait_for_agents(self, timeout_s: float = 30) -> None:
        """Return once every agent answers."""
        deadline = time.monotonic() + timeout_s
        for port in self.simulator.ports.values():
            while True:
                try:
                    NtcipClient("127.0.0.1", port, SnmpCredentials(), timeout_s=0.2, retries=0).close()
                    break
                except ControllerUnreachable:
                    assert time.monotonic() < deadline, f"agent on port {port} did not come up"
                    time.sleep(0.1)

    def join(self, timeout_s: float) -> HilResult:
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), f"the simulation did not finish within {timeout_s} s"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result
