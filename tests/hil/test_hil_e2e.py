"""End to end on grid2x2: the simulator with one SNMP agent per intersection, and runtimes as real
separate processes (`ernie-traffic deploy run`) talking SNMP over loopback UDP.

The runtimes here use the built-in longest-queue rule, so the in-process reference is that same rule
applied to the environment's own detector readings."""

from __future__ import annotations

import time

import pytest
from ernie_deploy.snmp_client import ControllerReading, NtcipClient, SnmpCredentials
from ernie_deploy.snmp_runner import longest_queue

from ernie_traffic.envs.traffic.config import TrafficEnvConfig
from ernie_traffic.envs.traffic.env import TrafficSignalEnv
from ernie_traffic.hil.config import HilConfig
from ernie_traffic.hil.controller import detector_call_phases
from ernie_traffic.hil.safety import check_signal_log, read_signal_log
from tests.hil.conftest import SimulatorInThread, free_port_block, run_cli, start_runtime

SEED = 3


def _traffic(seconds: float, backend: str) -> TrafficEnvConfig:
    return TrafficEnvConfig(network="grid2x2", episode_seconds=seconds, seed=SEED, backend=backend)


def _in_process_longest_queue(seconds: float) -> dict[str, float]:
    """The same decision rule, fed straight from the environment (no SNMP)."""
    env = TrafficSignalEnv(_traffic(seconds, "libsumo"))
    rules = {a: longest_queue(detector_call_phases(env.intersections[a])) for a in env.possible_agents}
    env.reset(seed=SEED)
    while env.agents:
        actions = {}
        for agent in env.agents:
            timer, lanes = env.timers[agent], env.detectors.incoming[agent]
            reading = ControllerReading(
                sequence=0,
                period_s=5,
                greens=[],
                yellows=[],
                phase_on=timer.green + 1,
                stage_time_s=timer.time_in_stage,
                vehicles=[int(v) for v in env.detectors.counts_in[lanes]],
                queue=[int(q) for q in env.detectors.queues_in[lanes]],
            )
            actions[agent] = rules[agent](reading) - 1
        env.step(actions)
    metrics = env.episode_metrics()
    env.close()
    return metrics


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
    """One simulated hour in lockstep with four runtime processes (a generous deadline: the test
    machine is shared, and a period that runs into the deadline is no longer lockstep)."""
    config = _hil_config(3600, tmp_path_factory.mktemp("hil"), lockstep_deadline_s=10.0)
    sim = SimulatorInThread(config)
    sim.wait_for_agents()
    runtimes = [start_runtime(port, "--idle-timeout", "20") for port in sim.simulator.ports.values()]
    result = sim.join(600)
    outputs = _finish(runtimes)
    return sim.simulator, result, outputs


@pytest.mark.slow
def test_lockstep_over_snmp_matches_in_process_evaluation(one_hour_lockstep):
    _, result, outputs = one_hour_lockstep
    assert result.decisions == 720 and result.late_periods == 0
    assert all(count == 720 for count in result.commands.values()), result.commands
    assert all("720 decisions" in out for out in outputs), outputs
    reference = _in_process_longest_queue(3600)
    assert result.metrics["throughput"] > 500
    assert result.metrics["mean_delay"] == pytest.approx(reference["mean_delay"], rel=0.02), (
        result.metrics,
        reference,
    )


@pytest.mark.slow
def test_signals_sumo_showed_in_an_hour_were_safe(one_hour_lockstep):
    simulator, result, _ = one_hour_lockstep
    log = read_signal_log(result.signal_log)
    assert set(log) == set(simulator.tls_ids)
    assert all(len(changes) > 20 for changes in log.values())  # the runtimes did switch phases
    assert check_signal_log(result.signal_log, simulator.env.intersections, simulator.env.timing) == []


def _wait_for_sequence(client: NtcipClient, at_least: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while client.sequence() < at_least:
        assert time.monotonic() < deadline, f"the simulation did not reach sample {at_least}"
        time.sleep(0.05)


@pytest.mark.slow
def test_killed_runtime_falls_back_to_fixed_time_and_a_restart_takes_over(tmp_path):
    config = _hil_config(900, tmp_path)
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
