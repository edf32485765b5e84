"""The cabinet owns its timing and its phase table: a bundle edited to a 0.5 s yellow with no red
clearance, or to a phase table that gives every movement green, is refused by `python -m
ernie_deploy check --cabinet`, by `deploy run` (against what the controller reports over SNMP), by
the simulated cabinets (`deploy simulate --bundle`) and by the in-process runtime and stress test;
and whatever a runtime commands, the street sees only the cabinet's own timing."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from ernie_deploy.bundle import MANIFEST_NAME, BundleError, load_bundle
from ernie_deploy.cabinet import read_network_cabinet
from ernie_deploy.runtime import ControllerRuntime
from ernie_deploy.snmp_client import NtcipClient, SnmpCredentials
from ernie_deploy.snmp_runner import run_intersection
from ernie_deploy.timing import TimingConfig
from hil_support import ROOT, SimulatorInThread, cli_env, free_port_block, run_cli

from ernie_traffic.controllers.bundled import load_bundle_controller
from ernie_traffic.envs.traffic import TrafficEnvConfig, TrafficSignalEnv
from ernie_traffic.export.manifest import intersection_entry, model_entry, write_manifest
from ernie_traffic.export.onnx_model import DEFAULT_OPSET, export_onnx
from ernie_traffic.hil.config import HilConfig
from ernie_traffic.hil.safety import check_signal_log, read_signal_log
from ernie_traffic.scenarios import list_scenarios
from ernie_traffic.stress.compat import incompatibilities

ALL_GREEN = "GGGgGGGgGGGgGGGg"


def short_yellow_no_red(manifest: dict) -> None:
    for entry in manifest["intersections"].values():
        entry["timing"].update(yellow_time=0.5, red_clearance=0)


def every_movement_green(manifest: dict) -> None:
    for entry in manifest["intersections"].values():
        for green in entry["green_phases"]:
            entry["phases"][green] = ALL_GREEN


# the tampering, and the one line that must refuse it (naming the intersection and the value)
TAMPERS: dict[str, tuple[Callable[[dict], None], str]] = {
    "timing": (
        short_yellow_no_red,
        "intersection A0: timing.yellow_time 0.5 s is below the cabinet's minimum of 3 s",
    ),
    "phase table": (
        every_movement_green,
        f"intersection A0: green phase 1 {ALL_GREEN!r} is not in the cabinet's table",
    ),
}


def grid_bundle(out: Path, edit: Callable[[dict], None] | None = None) -> Path:
    """A grid2x2 bundle (one small ONNX model per intersection) from the network's own tables and
    timing, then hand-edited by ``edit`` (only the manifest: every file hash still matches)."""
    env = TrafficSignalEnv(TrafficEnvConfig(network="grid2x2"))  # reads the network only
    models, intersections = {}, {}
    torch.manual_seed(0)
    for agent in env.possible_agents:
        layout, tls = env.layouts[agent], env.intersections[agent]
        name = f"policy_{agent}"
        export_onnx(torch.nn.Linear(layout.size, tls.n_actions).eval(), layout.size, out / f"{name}.onnx")
        models[name] = model_entry(f"{name}.onnx", layout.size, tls.n_actions)
        intersections[agent] = intersection_entry(
            model=name,
            layout=layout,
            phases=tls.phases,
            phase_durations=tls.phase_durations,
            green_phases=tls.green_phases,
            timing=env.timing,
        )
    env.close()
    write_manifest(
        out,
        network="grid2x2",
        decision_interval_s=5.0,
        opset=DEFAULT_OPSET,
        models=models,
        intersections=intersections,
        training={"algo": "test"},
    )
    if edit is not None:
        manifest = json.loads((out / MANIFEST_NAME).read_text())
        edit(manifest)
        (out / MANIFEST_NAME).write_text(json.dumps(manifest))
    return out


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bundles")
    made = {"good": grid_bundle(folder / "good")}
    for name, (edit, _) in TAMPERS.items():
        made[name] = grid_bundle(folder / name.replace(" ", "_"), edit)
    return made


def assert_refused(result, message: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0], lines[0]


def test_check_refuses_a_bundle_that_does_not_fit_the_cabinet_file(bundles, tmp_path):
    cabinet = tmp_path / "cabinet.json"
    written = run_cli("deploy", "cabinet", "--network", "grid2x2", "--out", str(cabinet))
    assert written.returncode == 0, written.stderr
    assert json.loads(cabinet.read_text())["intersections"]["A0"]["timing"]["yellow_time"] == 3.0

    options = ("--network", "grid2x2", "--cabinet", str(cabinet))
    good = deploy_check(bundles["good"], *options)
    assert good.returncode == 0, good.stderr
    assert "yellow 3 s, red clearance 2 s" in good.stdout
    for name, (_, message) in TAMPERS.items():
        assert_refused(deploy_check(bundles[name], *options), message)


def test_check_refuses_a_bundle_that_does_not_fit_the_network_file(bundles):
    net_file = ROOT / "networks" / "grid2x2" / "grid2x2.net.xml"
    good = deploy_check(bundles["good"], "--network", str(net_file))
    assert good.returncode == 0, good.stderr
    assert f"fits the cabinets of {net_file}" in good.stdout
    assert "yellow 3 s, red clearance 2 s" in good.stdout
    for name, (_, message) in TAMPERS.items():
        assert_refused(deploy_check(bundles[name], "--network", str(net_file)), message)
    # a name alone has no phase table to check against: refused, never passed unchecked
    by_name = deploy_check(bundles["phase table"], "--network", "grid2x2")
    assert_refused(by_name, "--network grid2x2: a name gives no phase table")


def test_the_runtime_reads_the_network_cabinet_the_toolkit_enforces():
    """``read_network_cabinet`` (runtime only, no SUMO) gives the same tables and timing as the
    simulated signals' own cabinet, for every bundled network."""
    for scenario in list_scenarios():
        if scenario.source == "bundled":
            env = TrafficSignalEnv(TrafficEnvConfig(network=scenario.name))  # reads the network only
            assert read_network_cabinet(scenario.net_file) == env.cabinet, scenario.name
            env.close()


def deploy_check(bundle: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """``python -m ernie_deploy check`` as a controller computer runs it."""
    return subprocess.run(
        [sys.executable, "-m", "ernie_deploy", "check", str(bundle), *options, "--decisions", "5"],
        capture_output=True, text=True, env=cli_env(), cwd=ROOT, check=False, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_deploy_run_refuses_a_bundle_that_does_not_fit_what_the_controller_reports(
    agent_v2c, bundles, tamper
):
    address = f"127.0.0.1:{agent_v2c.port}"
    done = run_cli(
        "deploy", "run", "--controller", address, "--community", "s3cret", "--bundle", str(bundles[tamper])
    )  # fmt: skip
    assert_refused(done, f"controller {address}: ")
    assert TAMPERS[tamper][1] in done.stderr
    assert agent_v2c.controller.commands == 0  # refused before any command


def test_deploy_run_commands_with_a_bundle_that_fits(agent_v2c, bundles):
    address = f"127.0.0.1:{agent_v2c.port}"
    done = run_cli(
        "deploy", "run", "--controller", address, "--community", "s3cret", "--bundle", str(bundles["good"]),
        "--max-decisions", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert agent_v2c.controller.commands == 1


def test_simulated_cabinets_refuse_a_misfit_bundle_and_keep_their_own_timing(bundles, tmp_path):
    base = str(free_port_block(4))
    common = ["--seconds", "20", "--startup-timeout", "0", "--base-port", base]
    for name, (_, message) in TAMPERS.items():
        assert_refused(run_cli("deploy", "simulate", "--bundle", str(bundles[name]), *common), message)
    out = tmp_path / "result.json"
    good = run_cli("deploy", "simulate", "--bundle", str(bundles["good"]), *common, "--out", str(out))
    assert good.returncode == 0, good.stderr
    assert json.loads(out.read_text())["safety_violations"] == []


def test_in_process_runtime_and_stress_test_use_the_network_cabinet(bundles, tmp_path):
    # A cabinet that permits shorter greens and holds them longer than the bundle was trained with.
    env = TrafficSignalEnv(TrafficEnvConfig(network="grid2x2", min_green=4, max_green=90))
    cabinet = env.cabinet
    env.close()
    runtime = ControllerRuntime(load_bundle(bundles["good"]), cabinet=cabinet)
    timings = {timer.timing for timer in runtime.timers.values()}
    assert timings == {TimingConfig(yellow_time=3, red_clearance=2, min_green=4, max_green=90)}
    for name, (_, message) in TAMPERS.items():
        with pytest.raises(BundleError, match=message.split(": ", 1)[1][:30]):
            ControllerRuntime(load_bundle(bundles[name]), cabinet=cabinet)
    timing_problems = incompatibilities(load_bundle_controller(bundles["timing"]), "grid2x2")
    assert len(timing_problems) == 1 and TAMPERS["timing"][1] in timing_problems[0]


def test_the_cabinet_times_its_own_changes_whatever_a_runtime_commands(tmp_path):
    """Four rogue runtimes (real SNMP over loopback) ask for the other phase at every sample; the
    street still shows the cabinet's 3 s yellows and 2 s red clearance, as SUMO's own log says."""
    config = HilConfig(
        traffic=TrafficEnvConfig(network="grid2x2", episode_seconds=150, seed=1, backend="traci"),
        base_port=free_port_block(4),
        signal_log=tmp_path / "signals.xml",
        lockstep_deadline_s=10.0,
    )
    sim = SimulatorInThread(config)
    sim.wait_for_agents()

    def rogue(port: int) -> None:
        client = NtcipClient("127.0.0.1", port, SnmpCredentials())
        run_intersection(client, lambda reading: 2 if reading.phase_on == 1 else 1, idle_timeout_s=5)
        client.close()

    threads = [threading.Thread(target=rogue, args=(port,)) for port in sim.simulator.ports.values()]
    for thread in threads:
        thread.start()
    result = sim.join(120)
    for thread in threads:
        thread.join(30)
    assert all(count >= 29 for count in result.commands.values()), result.commands
    env = sim.simulator.env
    assert check_signal_log(result.signal_log, env.intersections, env.timing) == []
    for tls, changes in read_signal_log(result.signal_log).items():
        yellows = [(later - t) for (t, state), (later, _) in itertools.pairwise(changes) if "y" in state]
        assert len(yellows) >= 5 and min(yellows) >= 3.0, (tls, yellows)
