"""The HIL control loop over SNMP on loopback: decision round trip and lockstep speed-up.

For each network, in one run and side by side:

- the street alone: the simulator with no runtime connected (every cabinet on its fixed-time plan,
  SNMP agents idle) — the ceiling the loop is measured against;
- lockstep: one ``ernie-traffic deploy run`` process per intersection (or ``--one-process``: one
  for all, a thread each) commanding its cabinet every sample period over SNMPv2c, woken by the
  cabinets' sampleReady notifications;
- lockstep, polling: the same with notifications off (``notify_samples: false``), the runtimes
  polling the sample sequence every ``--poll-interval`` — a controller without notifications.

Reported: simulated seconds per wall second (speed-up over real time) of both, and the decision
round trip of the runtimes (read the cabinet's sample + decide + command, median and p99 over all
decisions of all intersections), and the round trip of a single connected runtime (no other
runtime queueing at the simulator's agents; its first decisions wait for the process to start, so
its speed-up is not reported). The runtimes use the built-in longest-queue rule unless
``--bundle`` gives an exported bundle for the first network (ONNX inference adds well under 1 ms,
see runtime_latency.py).

    PYTHONPATH=$PWD:$PWD/deploy python benchmarks/hil_loop.py --networks grid2x2 grid4x4 --seconds 3600
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ernie_deploy.snmp_client import ControllerUnreachable, NtcipClient

from ernie_traffic.envs.traffic import TrafficEnvConfig
from ernie_traffic.hil.config import HilConfig
from ernie_traffic.hil.simulator import HilResult, HilSimulator

ROOT = Path(__file__).resolve().parents[1]
REPORT = re.compile(r"(\d+) decisions.*round trip median ([\d.]+) ms p99 ([\d.]+) ms")


def _free_base_port(size: int) -> int:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    base = probe.getsockname()[1]
    probe.close()
    return base if base + size < 65000 else 20000


def _config(
    network: str, seconds: float, startup_timeout_s: float, base_port: int, log: Path, notify: bool = True
) -> HilConfig:
    traffic = TrafficEnvConfig(network=network, episode_seconds=seconds, seed=0, backend="traci")
    return HilConfig(
        traffic=traffic,
        base_port=base_port,
        startup_timeout_s=startup_timeout_s,
        lockstep_deadline_s=10.0,
        notify_samples=notify,
        signal_log=log,
    )


def _run_simulator(simulator: HilSimulator, out: list[HilResult]) -> None:
    out.append(asyncio.run(simulator.run()))


def _wait_for_agents(ports: list[int]) -> None:
    deadline = time.monotonic() + 60
    for port in ports:
        while True:
            try:
                NtcipClient("127.0.0.1", port, timeout_s=0.2, retries=0).close()
                break
            except ControllerUnreachable:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"agent on port {port} did not come up") from None
                time.sleep(0.1)


def street_alone(network: str, seconds: float, folder: Path) -> HilResult:
    config = _config(network, seconds, 0.0, _free_base_port(64), folder / f"{network}-alone.xml")
    return asyncio.run(HilSimulator(config).run())


def lockstep(
    network: str,
    seconds: float,
    folder: Path,
    bundle: Path | None,
    one_process: bool,
    poll: str,
    single: bool = False,
    notify: bool = True,
):
    """The lockstep run; ``single``: connect only the first intersection's runtime (the others stay
    on fixed time and are not waited for), so its round trip has no other runtime queueing with it."""
    startup_timeout_s = 15.0 if single else 60.0  # single: the first period waits 15 s, then goes on
    config = _config(
        network, seconds, startup_timeout_s, _free_base_port(64), folder / f"{network}.xml", notify
    )
    simulator = HilSimulator(config)
    results: list[HilResult] = []
    thread = threading.Thread(target=_run_simulator, args=(simulator, results))
    thread.start()
    ports = list(simulator.ports.values())
    _wait_for_agents(ports)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "deploy")]))
    command = [
        sys.executable,
        "-m",
        "ernie_traffic",
        "deploy",
        "run",
        "--idle-timeout",
        "30",
        "--deadline",
        "5",
        "--poll-interval",
        poll,
    ]
    if bundle is not None:
        command += ["--bundle", str(bundle)]
    groups = [ports[:1]] if single else [ports] if one_process else [[port] for port in ports]
    processes = [
        subprocess.Popen(
            [*command, *(arg for port in group for arg in ("--controller", f"127.0.0.1:{port}"))],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for group in groups
    ]
    thread.join()
    outputs = [p.communicate(timeout=120)[0] for p in processes]
    medians, p99s, decisions = [], [], 0
    for line in "\n".join(outputs).splitlines():
        match = REPORT.search(line)
        if match:
            decisions += int(match.group(1))
            medians.append(float(match.group(2)))
            p99s.append(float(match.group(3)))
    if not medians:
        raise RuntimeError("no runtime reported:\n" + "\n".join(outputs))
    return results[0], sorted(medians)[len(medians) // 2], max(p99s), decisions, len(ports)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--networks", nargs="+", default=["grid2x2", "grid4x4"])
    parser.add_argument("--seconds", type=float, default=3600.0, help="simulated seconds per run")
    parser.add_argument("--bundle", type=Path, help="exported bundle for the first network")
    parser.add_argument(
        "--one-process", action="store_true", help="one runtime process for all intersections"
    )
    parser.add_argument("--poll-interval", default="0.002", help="runtime's sequence poll interval (s)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="hil-bench-"))
    load = os.getloadavg()[0]
    print(
        f"loopback SNMPv2c, lockstep, {args.seconds:g} simulated s per run, polling (where no "
        f"notification) every {args.poll_interval} s, CPUs: {os.cpu_count()}, "
        f"load average at start: {load:.1f}"
    )
    header = (
        f"{'network':<9} {'TLS':>3} {'runtimes':>8} {'new sample by':>13} {'alone x':>8} {'lockstep x':>10} "
        f"{'ratio':>6} {'round trip median ms':>21} {'p99 ms*':>8} {'decisions':>9}"
    )
    print(header)
    for index, network in enumerate(args.networks):
        bundle = args.bundle if index == 0 else None
        alone = street_alone(network, args.seconds, folder)
        for notify in (True, False):
            loop, median, p99, decisions, n_tls = lockstep(
                network, args.seconds, folder, bundle, args.one_process, args.poll_interval, notify=notify
            )
            processes = 1 if args.one_process else n_tls
            print(
                f"{network:<9} {n_tls:>3} {processes:>8} {'notification' if notify else 'polling':>13} "
                f"{alone.speedup:>8.0f} {loop.speedup:>10.1f} {loop.speedup / alone.speedup:>6.3f} "
                f"{median:>21.2f} {p99:>8.2f} {decisions:>9}"
            )
    first = args.networks[0]
    _, median, p99, decisions, _ = lockstep(
        first, args.seconds, folder, args.bundle, False, args.poll_interval, single=True
    )
    print(
        f"{first:<9} one runtime connected, the others on fixed time: round trip median {median:.2f} ms, "
        f"p99 {p99:.2f} ms over {decisions} decisions"
    )
    print("* p99: the largest per-intersection p99")


if __name__ == "__main__":
    main()
