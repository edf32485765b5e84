"""End to end on grid2x2: the simulator with one SNMP agent per intersection, and runtimes as real
separate processes (`ernie-traffic deploy run`) talking SNMP over loopback UDP.

The one-hour run deploys a policy trained by the real training code (a short QCOMBO run) and exported
by `ernie-traffic export`, and compares it with the in-process `evaluate()` of the same run's learned
controller; the fault tests use the built-in longest-queue rule (no bundle needed)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from ernie_deploy.snmp_client import NtcipClient, SnmpCredentials
from hil_support import SimulatorInThread, free_port_block, run_cli, start_runtime

from ernie_traffic.controllers.learned import load_controller
from ernie_traffic.envs.traffic.config import TrafficEnvConfig
from ernie_traffic.evaluation import evaluate
from ernie_traffic.hil.config import HilConfig
from ernie_traffic.hil.safety import check_signal_log, read_signal_log
from ernie_traffic.training.config import TrainConfig
from ernie_traffic.training.loop import train

SEED = 3


def _traffic(seconds: float, backend: str) -> TrafficEnvConfig:
    return TrafficEnvConfig(network="grid2x2", episode_seconds=seconds, seed=SEED, backend=backend)


def _trained_run(out: Path) -> Path:
    """A short plain-QCOMBO run (4 half-hour episodes, a few seconds): enough to learn a policy that
    keeps the grid flowing for an hour, so the comparison is about real traffic, not a gridlock."""
    torch.set_num_threads(1)
    config = TrainConfig(
        env=_traffic(1800, "libsumo").model_copy(update={"seed": 0}),
        episodes=4,
        eval_episodes=0,
        baselines=[],
        reg="none",
        out_dir=out,
        name="hil-parity",
    )
    return train(config).run_dir


def _hil_config(seconds: float, tmp_path, **overrides) -> HilConfig:
    return HilConfig(
        traffic=_traffic(seconds, "traci"),
        base_port=free_port_block(4),
        signal_log=tmp_path / "signals.xml",
        **overrides,
    )


def _finish(processes, timeout_s: float = 60) -> list[str]:
    outputs = []
    for process in processes:
        out, _ = process.communicate(timeout=timeout_s)
        outputs.append(out)
    return outputs


@pytest.fixture(scope="module")
def one_hour_lockstep(tmp_path_factory):
    """One simulated hour in lockstep, a trained run's exported bundle run by four runtime processes (a
    generous deadline: the test machine is shared, and a period that runs into it is no longer
    lockstep). Also the same run's learned controller evaluated in-process on the same seed."""
    folder = tmp_path_factory.mktemp("hil")
    run = _trained_run(folder / "runs")
    bundle = folder / "bundle"
    exported = run_cli("export", str(run), "--out", str(bundle), "--record-steps", "100", "--random", "200")
    assert exported.returncode == 0, exported.stderr

    reference = evaluate(load_controller(run), _traffic(3600, "libsumo"), seeds=[SEED])["mean"]
    config = _hil_config(3600, folder, lockstep_deadline_s=10.0)
    sim = SimulatorInThread(config)
    sim.wait_for_agents()
    runtimes = [
        start_runtime(port, "--bundle", str(bundle), "--idle-timeout", "20")
        for port in sim.simulator.ports.values()
    ]
    result = sim.join(600)
    outputs = _finish(runtimes)
    return sim.simulator, result, outputs, reference


def test_bundle_over_snmp_in_lockstep_matches_in_process_evaluation(one_hour_lockstep):
    _, result, outputs, reference = one_hour_lockstep
    assert result.decisions == 720 and result.late_periods == 0
    # Every period was commanded. SNMP runs over UDP and the client retries a SET whose answer is
    # late (a loaded CI machine), so a rare duplicate of an identical, idempotent write may arrive.
    assert all(720 <= count <= 725 for count in result.commands.values()), result.commands
    assert all("720 decisions, 0 by the fallback plan" in out for out in outputs), outputs
    assert result.metrics["throughput"] > 1500  # the trained policy keeps the grid flowing
    assert result.metrics["mean_delay"] == pytest.approx(reference["mean_delay"], rel=0.02), (
        result.metrics,
        reference,
    )


def test_signals_sumo_showed_in_an_hour_were_safe(one_hour_lockstep):
    simulator, result, _, _ = one_hour_lockstep
    log = read_signal_log(result.signal_log)
    assert set(log) == set(simulator.tls_ids)
    assert all(len(changes) > 20 for changes in log.values())  # the runtimes did switch phases
    assert check_signal_log(result.signal_log, simulator.env.intersections, simulator.env.timing) == []


def _wait_for_sequence(client: NtcipClient, at_least: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while client.sequence() < at_least:
        assert time.monotonic() < deadline, f"the simulation did not reach sample {at_least}"
        time.sleep(0.05)


def test_killed_runtime_falls_back_to_fixed_time_and_a_restart_takes_over(tmp_path):
    config = _hil_config(3600, tmp_path)  # long enough for a restarted process to start at ~600x real time
    sim = SimulatorInThread(config)
    sim.wait_for_agents()
    ports = sim.simulator.ports
    runtimes = {tls: start_runtime(port, "--idle-timeout", "20") for tls, port in ports.items()}
    watcher = NtcipClient("127.0.0.1", ports["B1"], SnmpCredentials())
    _wait_for_sequence(watcher, 30)
    runtimes["B1"].kill()
    killed_output = runtimes["B1"].communicate(timeout=10)[0]
    sequence_at_kill = watcher.sequence()
    _wait_for_sequence(watcher, sequence_at_kill + 30)  # 150 s without the runtime
    runtimes["B1"] = start_runtime(ports["B1"], "--idle-timeout", "20")
    watcher.close()
    result = sim.join(300)
    outputs = _finish(runtimes.values())

    b1 = [(t, mode, last) for t, tls, mode, last in result.mode_changes if tls == "B1"]
    assert [mode for _, mode, _ in b1] == ["remote", "fixed_time", "remote"], b1
    fallback_at, _, last_command = b1[1]
    assert fallback_at - last_command <= config.watchdog_s + config.traffic.decision_interval
    taken_over_at = b1[2][0]
    assert taken_over_at - fallback_at >= 100
    # Fixed time kept traffic moving: both greens were shown at B1 while no runtime was connected.
    shown = {s for t, s in read_signal_log(result.signal_log)["B1"] if fallback_at <= t < taken_over_at}
    assert set(sim.simulator.env.intersections["B1"].green_states) <= shown
    assert "decisions" in outputs[-1] and int(outputs[-1].split(": ")[1].split()[0]) > 20  # restarted one
    assert "decisions" not in killed_output  # SIGKILL: it never got to report
    assert result.metrics["throughput"] > 100
    env = sim.simulator.env
    assert check_signal_log(result.signal_log, env.intersections, env.timing) == []


def test_runtime_pointed_at_a_wrong_port_or_community_fails_clearly(agent_v2c):
    closed_port = free_port_block(1)
    wrong_port = run_cli("deploy", "run", "--controller", f"127.0.0.1:{closed_port}", "--timeout", "0.3")
    assert wrong_port.returncode == 2
    assert f"error: controller 127.0.0.1:{closed_port}: nothing is listening" in wrong_port.stderr
    address = f"127.0.0.1:{agent_v2c.port}"
    wrong_community = run_cli("deploy", "run", "--controller", address, "--community", "x", "--timeout", "1")
    assert wrong_community.returncode == 2
    assert "community string is wrong" in wrong_community.stderr
    assert agent_v2c.controller.commands == 0


def test_realtime_mode_keeps_pace_with_the_wall_clock(tmp_path):
    config = _hil_config(15, tmp_path, mode="realtime", startup_timeout_s=0)
    result = SimulatorInThread(config).join(60)
    assert result.decisions == 3 and result.simulated_s == 15
    assert 10 <= result.wall_s < 20  # the last period is not waited for: 2 of 3 periods in wall time
    assert set(read_signal_log(result.signal_log)) == {"A0", "A1", "B0", "B1"}


def test_simulate_cli_runs_fixed_time_without_runtimes_and_checks_its_log(tmp_path):
    out = tmp_path / "result.json"
    base = str(free_port_block(4))
    done = run_cli(
        "deploy", "simulate", "--network", "grid2x2", "--seconds", "120", "--startup-timeout", "0",
        "--base-port", base, "--signal-log", str(tmp_path / "log.xml"), "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"A0: 127.0.0.1:{base}" in done.stdout
    summary = json.loads(out.read_text())
    assert summary["decisions"] == 24 and summary["safety_violations"] == []
    assert summary["commands"] == {"A0": 0, "A1": 0, "B0": 0, "B1": 0} and summary["mode_changes"] == []
    assert summary["metrics"]["throughput"] > 0
    bad = run_cli("deploy", "simulate", "--network", "grid2x2", "--mode", "often", "--startup-timeout", "0")
    assert bad.returncode == 2 and "mode" in bad.stderr


def _imported_modules(importtime_stderr: str) -> set[str]:
    """Module names from ``python -X importtime`` output (``import time: self | cumulative | name``)."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in importtime_stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


def test_deploy_run_does_not_import_torch():
    """A controller computer runs `deploy run` with numpy + onnxruntime; torch would cost seconds of
    start-up and hundreds of MB per runtime process."""
    closed_port = free_port_block(1)
    done = run_cli(
        "deploy",
        "run",
        "--controller",
        f"127.0.0.1:{closed_port}",
        "--timeout",
        "0.3",
        python_flags=["-X", "importtime"],
    )
    assert done.returncode == 2 and "nothing is listening" in done.stderr  # it got as far as the SNMP request
    modules = _imported_modules(done.stderr)
    assert {"ernie_traffic.cli.deploy", "ernie_deploy.snmp_client", "ernie_deploy.snmp_ber"} <= modules
    assert not {m for m in modules if m == "torch" or m.startswith("torch.")}
