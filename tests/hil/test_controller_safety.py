"""The virtual controller's reading of NTCIP commands and its fixed-time fallback, and the signal-log
safety check on hand-made logs (each rule shown to catch its violation)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ernie_deploy.timing import SignalTimer, TimingConfig
from hil_support import GRID2X2

from ernie_traffic.envs.traffic.intersections import read_intersections
from ernie_traffic.hil.controller import VirtualController
from ernie_traffic.hil.safety import check_signal_log

TIMING = TimingConfig(yellow_time=3, red_clearance=2, min_green=5, max_green=60)
A0 = read_intersections(GRID2X2)["A0"]
NS, EW = A0.green_states  # "GGGgrrrrGGGgrrrr", "rrrrGGGgrrrrGGGg"
YELLOW_NS = NS.replace("G", "y").replace("g", "y")
ALL_RED = "r" * len(NS)


def _controller() -> VirtualController:
    return VirtualController(A0, SignalTimer(A0.green_states, TIMING), watchdog_s=15, period_s=5)


def _run(controller: VirtualController, seconds: int) -> list[str]:
    """Advance like the simulator: request at each period start, then let the period pass."""
    shown = []
    for _ in range(seconds // 5):
        controller.timer.request(controller.wanted_green())
        for _ in range(5):
            shown.append(controller.timer.advance(1))
        controller.now_s += 5
    return shown


def test_hold_keeps_and_force_off_with_call_changes_the_green():
    controller = _controller()
    controller.control.hold = 0b01
    controller.commit_command()
    assert controller.wanted_green() == 0
    controller.control.hold, controller.control.force_off, controller.control.veh_call = 0, 0b01, 0b10
    assert controller.wanted_green() == 1
    controller.control.omit = 0b10  # the called phase is omitted: nothing to change to
    assert controller.wanted_green() == 0


def test_without_commands_the_fixed_time_plan_alternates_greens():
    controller = _controller()
    assert not controller.remote
    shown = _run(controller, 200)
    greens = [s for s in shown if s in (NS, EW)]
    assert greens.count(NS) >= 80 and greens.count(EW) >= 80  # the program's 42 s greens, alternating


def test_watchdog_expiry_hands_the_intersection_back_to_fixed_time():
    controller = _controller()
    controller.control.hold, controller.control.omit = 0b01, 0b10  # hold NS forever
    controller.commit_command()
    _run(controller, 10)
    assert controller.remote
    _run(controller, 10)  # 20 s without a command > 15 s watchdog
    assert not controller.remote
    assert EW in _run(controller, 60)  # the plan serves the other phase again


def _log(tmp_path: Path, changes: list[tuple[float, str]]) -> Path:
    rows = "\n".join(f'  <tlsState time="{t}" id="A0" state="{s}"/>' for t, s in changes)
    path = tmp_path / "log.xml"
    path.write_text(f"<tlsStates>\n{rows}\n</tlsStates>\n")
    return path


SAFE = [(0, NS), (10, YELLOW_NS), (13, ALL_RED), (15, EW), (40, EW.replace("G", "y").replace("g", "y"))]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (SAFE, None),
        ([(0, NS), (3, YELLOW_NS), (6, ALL_RED), (8, EW)], "lasted 3 s < 5 s"),
        ([(0, NS), (10, ALL_RED), (12, EW)], "without yellow"),
        ([(0, NS), (10, YELLOW_NS), (12, ALL_RED), (14, EW)], "yellow lasted 2 s"),
        ([(0, NS), (10, YELLOW_NS), (13, EW)], "after conflicting link"),
        ([(0, NS), (10, "G" * len(NS))], "conflicting greens"),
    ],
)
def test_safety_check_finds_each_kind_of_violation(tmp_path, changes, expected):
    violations = check_signal_log(_log(tmp_path, changes), {"A0": A0}, TIMING)
    if expected is None:
        assert violations == []
    else:
        assert any(expected in v for v in violations), violations


def test_safety_check_holds_yellows_to_the_floor_whatever_timing_it_is_given(tmp_path):
    """A 1 s yellow is flagged even when the timing passed is a tampered bundle's 0.5 s: the check
    never measures below 3 s."""
    tampered = TimingConfig(yellow_time=0.5, red_clearance=0, min_green=5, max_green=60)
    changes = [(0, NS), (10, YELLOW_NS), (11, ALL_RED), (13, EW)]
    violations = check_signal_log(_log(tmp_path, changes), {"A0": A0}, tampered)
    assert any("yellow lasted 1 s < 3 s" in v for v in violations), violations
