"""SUMO's own programs (fixed-time, actuated, Webster) run under the same cabinet timing as every
controller that acts through the signal timer: their greens, the timer's yellow and red clearance."""

from __future__ import annotations

import itertools

import pytest
from ernie_deploy.timing import TimingConfig

from ernie_traffic.envs.traffic import TrafficEnvConfig, TrafficSignalEnv
from ernie_traffic.hil.safety import check_signal_log, read_signal_log
from ernie_traffic.hil.simulator import write_tls_log_request


def signal_log(tmp_path, control: str, red_clearance: float) -> tuple[TrafficSignalEnv, dict]:
    log = tmp_path / f"{control}-{red_clearance}.xml"
    request = write_tls_log_request(tmp_path / "log.add.xml", ["A0", "B1"], log)
    config = TrafficEnvConfig(
        network="grid2x2",
        episode_seconds=400,
        control=control,
        red_clearance=red_clearance,
        additional_files=[request],
    )
    env = TrafficSignalEnv(config)
    env.reset(seed=0)
    while env.agents:
        env.step({})
    env.close()
    return env, read_signal_log(log)


@pytest.mark.parametrize("control", ["fixed_time", "actuated"])
def test_sumo_programs_show_the_cabinet_clearance(tmp_path, control):
    env, changes = signal_log(tmp_path, control, red_clearance=2.0)
    timing = TimingConfig(yellow_time=3.0, red_clearance=2.0, min_green=5.0, max_green=60.0)
    log = tmp_path / f"{control}-2.0.xml"
    assert check_signal_log(log, env.intersections, timing) == []
    for history in changes.values():
        all_red = [(t1 - t0, s) for (t0, s), (t1, _) in itertools.pairwise(history) if set(s) == {"r"}]
        assert all_red and all(seconds == 2.0 for seconds, _ in all_red)


def test_without_red_clearance_fixed_time_is_the_networks_own_program(tmp_path):
    env, changes = signal_log(tmp_path, "fixed_time", red_clearance=0.0)
    a0, table = changes["A0"][:5], env.intersections["A0"]
    shown = [state for _, state in a0[:4]]
    assert shown == list(table.phases)  # 42 s green, 3 s yellow, 42 s green, 3 s yellow
    durations = [t1 - t0 for (t0, _), (t1, _) in itertools.pairwise(a0)]
    assert durations == list(table.phase_durations)
