"""The signal timer (and deployment safety shield): whatever is requested, only table greens and
their clearance states are shown, with yellow, red clearance, min and max green respected."""

from __future__ import annotations

import pytest
from ernie_deploy.timing import SignalTimer, TimingConfig, red_clearance_state, yellow_state
from hypothesis import given, settings
from hypothesis import strategies as st

# cologne3's 360082: three greens, the second keeps one link ("G" at index 10) of the first.
GREENS = ("GGggrrrGGGg", "rrGGrrrrrrG", "rrrrGGgGrrr")
TIMING = TimingConfig(yellow_time=3, red_clearance=2, min_green=5, max_green=20)


def run(timer: SignalTimer, requests: list[int | None], seconds_per_request: int = 1) -> list[str]:
    """Second-by-second states shown while requests arrive (None: no new request)."""
    shown = []
    for request in requests:
        if request is not None:
            timer.request(request)
        for _ in range(seconds_per_request):
            shown.append(timer.state)
            timer.advance(1)
    return shown


def segments(shown: list[str]) -> list[tuple[str, int]]:
    runs: list[tuple[str, int]] = []
    for state in shown:
        if runs and runs[-1][0] == state:
            runs[-1] = (state, runs[-1][1] + 1)
        else:
            runs.append((state, 1))
    return runs


def test_change_goes_through_yellow_then_red_clearance_after_min_green():
    timer = SignalTimer(GREENS, TIMING)
    shown = run(timer, [2] + [None] * 14)
    yellow = yellow_state(GREENS[0], GREENS[2])
    red = red_clearance_state(GREENS[0], GREENS[2])
    assert segments(shown) == [(GREENS[0], 5), (yellow, 3), (red, 2), (GREENS[2], 5)]
    assert yellow == "yyyyrrrGyyy" and red == "rrrrrrrGrrr"  # link 7 is green in both


def test_links_green_in_both_phases_stay_green_through_the_change():
    assert yellow_state(GREENS[0], GREENS[1]) == "yyggrrryyyg"  # SUMO's own yellow for this change
    assert red_clearance_state(GREENS[0], GREENS[1]) == "rrggrrrrrrg"


def test_change_that_only_adds_green_needs_no_clearance():
    timer = SignalTimer(("GGrr", "GGGr"), TIMING)
    shown = run(timer, [1] + [None] * 6)
    assert segments(shown) == [("GGrr", 5), ("GGGr", 2)]


def test_max_green_forces_the_next_phase_of_the_table():
    timer = SignalTimer(GREENS, TIMING)
    shown = run(timer, [0] * 30)
    assert segments(shown)[0] == (GREENS[0], 20)
    assert segments(shown)[1][0] == yellow_state(GREENS[0], GREENS[1])


def test_invalid_requests_are_refused_and_keep_the_previous_target():
    timer = SignalTimer(GREENS, TIMING)
    assert timer.request(1)
    assert not timer.request(3) and not timer.request(-1) and not timer.request("2")  # type: ignore[arg-type]
    assert timer.target == 1


def test_one_long_advance_equals_many_short_ones():
    long, short = SignalTimer(GREENS, TIMING), SignalTimer(GREENS, TIMING)
    long.request(2)
    short.request(2)
    long.advance(12)
    for _ in range(12):
        short.advance(1)
    assert (long.state, long.stage, long.time_in_stage) == (short.state, short.stage, short.time_in_stage)


def test_bad_timing_is_rejected():
    with pytest.raises(ValueError):
        TimingConfig(min_green=10, max_green=5)
    with pytest.raises(ValueError):
        SignalTimer(("GGr", "GG"), TIMING)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(-2, 4)), min_size=1, max_size=60), st.integers(1, 7))
def test_any_request_sequence_is_shown_safely(requests, seconds_per_request):
    timer = SignalTimer(GREENS, TIMING)
    runs = segments(run(timer, requests, seconds_per_request))
    greens = set(GREENS)
    for i, (state, length) in enumerate(runs):
        if state in greens:
            last = i == len(runs) - 1
            assert last or TIMING.min_green <= length <= TIMING.max_green
            continue
        # Every non-green state is a clearance built between two table greens, shown for its full time.
        before = runs[i - 1][0] if "y" in state else runs[i - 2][0]
        assert before in greens
        after = next((s for s, _ in runs[i + 1 :] if s in greens), None)
        candidates = [g for g in GREENS if g != before] if after is None else [after]
        if "y" in state:
            assert any(state == yellow_state(before, g) for g in candidates)
            assert length == TIMING.yellow_time or i == len(runs) - 1
        else:
            assert any(state == red_clearance_state(before, g) for g in candidates)
            assert length == TIMING.red_clearance or i == len(runs) - 1
