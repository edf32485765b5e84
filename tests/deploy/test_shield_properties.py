"""Property tests: whatever the model outputs, the signals obey every timing constraint.

An independent monitor watches the timeline of signal states the runtime emits and checks, per
link and per green: green never jumps to red (yellow first), yellow lasts exactly the yellow time
and is followed by red, no link gets green before the red clearance after the last yellow has
passed, every green lasts at least min green and at most max green, and only the table's greens
(or their yellow / red-clearance forms) are shown.
"""

from __future__ import annotations

import itertools

import numpy as np
from ernie_deploy.runtime import ControllerRuntime
from ernie_deploy.timing import SignalTimer, TimingConfig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toy_bundle import DURATIONS, GREEN_PHASES, LAYOUT, PHASES, TIMING, build_bundle, mlp

GREEN = frozenset("Gg")
EPS = 1e-6


def check_timeline(
    timeline: list[tuple[float, str]], end: float, greens: tuple[str, ...], timing: TimingConfig
):
    """Assert every constraint over ``timeline`` (time, state) pairs, shown until ``end``."""
    n_links = len(greens[0])
    last_yellow_start = -np.inf
    yellow_since = [None] * n_links
    green_since, green_state = timeline[0]
    assert green_state in greens
    for (t_prev, prev), (t, state) in itertools.pairwise(timeline):
        assert t - t_prev > 0, f"zero-length state {prev!r} at {t_prev}"
        for i in range(n_links):
            if prev[i] in GREEN and state[i] not in GREEN:
                assert state[i] == "y", f"link {i}: green -> {state[i]!r} at {t} without yellow"
                yellow_since[i] = t
                last_yellow_start = t
            elif prev[i] == "y":
                assert state[i] == "r", f"link {i}: yellow -> {state[i]!r} at {t}"
                assert abs(t - yellow_since[i] - timing.yellow_time) < EPS, (
                    f"link {i}: yellow for {t - yellow_since[i]}"
                )
            if state[i] in GREEN and prev[i] not in GREEN:
                cleared = t - last_yellow_start
                assert cleared >= timing.yellow_time + timing.red_clearance - EPS, (
                    f"link {i} green after {cleared}s"
                )
        if prev == green_state and state != green_state:
            shown = t - green_since
            assert shown >= timing.min_green - EPS, f"green {prev!r} left after {shown}s"
            assert shown <= timing.max_green + EPS, f"green {prev!r} kept {shown}s"
        if state in greens:
            green_since, green_state = t, state
        else:
            # A transition state: the previous green with its losing links turned yellow or red.
            assert all(
                (c in GREEN and g in GREEN) or c in "yr" for c, g in zip(state, green_state, strict=True)
            )
    assert end - green_since <= timing.max_green + EPS or timeline[-1][1] != green_state


timings = st.builds(
    TimingConfig,
    yellow_time=st.sampled_from([1.0, 3.0, 4.5]),
    red_clearance=st.sampled_from([0.0, 1.0, 2.0]),
    min_green=st.sampled_from([1.0, 5.0, 10.0]),
    max_green=st.sampled_from([20.0, 30.0, 60.0]),
)
phase_tables = st.sampled_from(
    [
        ("GGrr", "rrGG"),
        ("GGgrrrGGgrrr", "rrrGGgrrrGGg", "GrrGrrGrrGrr"),
        ("GGrrGr", "rGGrrG", "GrGGrr", "rrrrGG"),
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    greens=phase_tables,
    timing=timings,
    requests=st.lists(
        st.tuples(st.integers(-3, 6), st.floats(0.1, 40.0, allow_nan=False)), min_size=1, max_size=40
    ),
)
def test_timer_obeys_constraints_for_any_requests(greens, timing, requests):
    """Any requested index (also outside the table) at any time: constraints hold."""
    timer = SignalTimer(greens, timing)
    clock, timeline = 0.0, [(0.0, timer.state)]
    for green, seconds in requests:
        timer.request(green)
        if timer.state != timeline[-1][1]:
            timeline.append((clock, timer.state))
        elapsed = 0.0
        while elapsed < seconds:
            step = min(seconds - elapsed, timer.seconds_to_change())
            timer.advance(step)
            elapsed += step
            if timer.state != timeline[-1][1]:
                timeline.append((clock + elapsed, timer.state))
        clock += seconds
    check_timeline(_merge_same_time(timeline), clock, greens, timing)


def _merge_same_time(timeline):
    """States replaced at the same instant were never shown: keep the last one per time."""
    merged: list[tuple[float, str]] = []
    for t, state in timeline:
        if merged and abs(merged[-1][0] - t) < 1e-12:
            merged[-1] = (t, state)
        else:
            merged.append((t, state))
    return merged


readings = st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=2, max_size=2)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(st.tuples(readings, readings, st.floats(0.5, 15.0)), min_size=1, max_size=25),
    seed=st.integers(0, 5),
)
def test_runtime_signals_obey_constraints_for_any_model_and_readings(tmp_path_factory, steps, seed):
    """Random model weights and arbitrary readings (NaN, inf, negative, huge) drive the whole
    decision loop; the signal timeline it emits obeys every constraint."""
    bundle = build_bundle(tmp_path_factory.mktemp("b"), mlp(seed=seed))
    runtime = ControllerRuntime(bundle, intersections=["J1"])
    greens = tuple(PHASES[g] for g in GREEN_PHASES)
    timeline = [(0.0, runtime.signal_states()["J1"])]

    def on_change(tls: str, clock: float, state: str) -> None:
        timeline.append((clock, state))

    for counts, queues, seconds in steps:
        runtime.decide({"J1": (counts, queues)})
        if runtime.signal_states()["J1"] != timeline[-1][1]:
            timeline.append((runtime.clock_s, runtime.signal_states()["J1"]))
        runtime.advance(seconds, on_change)
    check_timeline(_merge_same_time(timeline), runtime.clock_s, greens, TIMING)
    assert runtime.latency.summary()["decisions"] == len(steps)
    assert LAYOUT.size == 8 and len(DURATIONS) == 4


def test_monitor_catches_each_kind_of_violation():
    """The monitor is not vacuous: hand-made timelines that break one rule each are caught."""
    timing = TimingConfig(yellow_time=3, red_clearance=2, min_green=10, max_green=30)
    greens = ("GGrr", "rrGG")
    violations = [
        [(0, "GGrr"), (12, "rrGG")],  # no yellow
        [(0, "GGrr"), (12, "yyrr"), (13, "rrrr"), (15, "rrGG")],  # yellow too short
        [(0, "GGrr"), (12, "yyrr"), (15, "rrGG")],  # no red clearance
        [(0, "GGrr"), (4, "yyrr"), (7, "rrrr"), (9, "rrGG")],  # min green not served
        [(0, "GGrr"), (40, "yyrr"), (43, "rrrr"), (45, "rrGG")],  # max green exceeded
        [(0, "GGrr"), (12, "GGGG")],  # a state outside the table
    ]
    for timeline in violations:
        try:
            check_timeline(timeline, 60, greens, timing)
        except AssertionError:
            continue
        raise AssertionError(f"monitor accepted {timeline}")
    check_timeline([(0, "GGrr"), (12, "yyrr"), (15, "rrrr"), (17, "rrGG")], 40, greens, timing)
