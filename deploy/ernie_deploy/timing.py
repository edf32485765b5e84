"""Signal timing state machine: the one piece of code that turns requested green phases into
safe signal states, in training and on a controller cabinet (where it is the safety shield).

A controller only ever *requests* one of the program's green phases. The timer decides when the
request is served: it keeps the current green for at least ``min_green`` seconds, forces a change
to the next green of the table after ``max_green`` seconds, and between two greens inserts a
yellow state (links green now and not green next show ``y``) for ``yellow_time`` seconds and then a
red-clearance state (those links ``r``) for ``red_clearance`` seconds. Links green in both phases
stay green throughout. A request outside the table is ignored (the current target is kept). Only
the green states given at construction, and the yellow/red states built from them, are ever shown.

Pure Python, no SUMO and no numpy: the deployed controller imports it as is.

Example::

    timer = SignalTimer(["GGrr", "rrGG"], TimingConfig(yellow_time=3, red_clearance=2, min_green=5))
    timer.request(1)                 # served after min green: 5 s green, 3 s "yyrr", 2 s "rrrr"
    timer.advance(timer.seconds_to_change())
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

GREEN_LINKS = frozenset("Gg")


def is_green_phase(state: str) -> bool:
    """A phase a controller can request: some movement has green and none is in its yellow change.

    Phases that only change yellow or clear red are transitions the timer inserts, never requests
    (the same rule as sumo-rl's). A network's green phases are these, in program order."""
    return any(c in GREEN_LINKS for c in state) and not any(c in "yY" for c in state)


# No signal shows a yellow change shorter than this, whatever its configuration says (the usual
# minimum of traffic engineering guidance, e.g. ITE and the MUTCD's 3 s): the cabinet refuses a
# bundle asking for less, and the signal-log safety check measures every yellow against it.
MIN_YELLOW_S = 3.0


@dataclass(frozen=True)
class TimingConfig:
    """Seconds of each safety interval; ``max_green`` of ``inf`` disables the forced change."""

    yellow_time: float = 3.0
    red_clearance: float = 2.0
    min_green: float = 5.0
    max_green: float = 60.0

    def __post_init__(self) -> None:
        if min(self.yellow_time, self.red_clearance, self.min_green) < 0:
            raise ValueError(f"timing intervals must be non-negative: {self}")
        if self.max_green <= 0 or self.max_green < self.min_green:
            raise ValueError(f"max_green {self.max_green} is below min_green {self.min_green}")


@functools.cache
def yellow_state(current: str, following: str) -> str:
    """Links green in ``current`` and not green in ``following`` turn yellow; others keep their state."""
    return "".join(
        "y" if now in GREEN_LINKS and nxt not in GREEN_LINKS else now
        for now, nxt in zip(current, following, strict=True)
    )


@functools.cache
def red_clearance_state(current: str, following: str) -> str:
    """Links green in ``current`` and not green in ``following`` are red; others keep their state."""
    return "".join(
        "r" if now in GREEN_LINKS and nxt not in GREEN_LINKS else now
        for now, nxt in zip(current, following, strict=True)
    )


class SignalTimer:
    """Serves requested green phases of one intersection with yellow, red clearance, min/max green.

    Stages: ``"green"`` (showing ``green_states[green]``), ``"yellow"`` and ``"red"`` (changing from
    ``green`` to ``next_green``). Time only moves through :meth:`advance`. A caller that
    applies states to a simulation or to signal heads steps at most :meth:`seconds_to_change`
    seconds at a time, so that it sees every state.
    """

    def __init__(
        self, green_states: list[str] | tuple[str, ...], timing: TimingConfig, initial_green: int = 0
    ):
        if not green_states:
            raise ValueError("a signal program needs at least one green phase")
        if len({len(s) for s in green_states}) != 1:
            raise ValueError(f"green states differ in length: {list(green_states)}")
        self.green_states = tuple(green_states)
        self.timing = timing
        self.reset(initial_green)

    def reset(self, initial_green: int = 0) -> None:
        """Start showing ``initial_green`` now, as if its green had just begun."""
        if not 0 <= initial_green < len(self.green_states):
            raise ValueError(f"initial green {initial_green} outside 0..{len(self.green_states) - 1}")
        self.green = initial_green
        self.next_green = initial_green
        self.target = initial_green
        self.stage = "green"
        self.time_in_stage = 0.0
        self.state = self.green_states[initial_green]

    @property
    def in_transition(self) -> bool:
        return self.stage != "green"

    def request(self, green_index: int) -> bool:
        """Ask for ``green_index``; returns False (and keeps the previous target) if it is not a
        green phase of the table. The change happens now if the current green has run min green."""
        if not (isinstance(green_index, int) or hasattr(green_index, "__index__")):
            return False
        index = int(green_index)
        if not 0 <= index < len(self.green_states):
            return False
        self.target = index
        self._settle()
        return True

    def seconds_to_change(self) -> float:
        """Seconds until the shown state changes if nothing new is requested (``inf``: never)."""
        if self.stage == "yellow":
            return self.timing.yellow_time - self.time_in_stage
        if self.stage == "red":
            return self.timing.red_clearance - self.time_in_stage
        if self.target != self.green:
            return max(0.0, self.timing.min_green - self.time_in_stage)
        if len(self.green_states) > 1:
            return max(0.0, self.timing.max_green - self.time_in_stage)
        return math.inf

    def advance(self, seconds: float) -> str:
        """Let ``seconds`` pass and return the state shown afterwards (every change on the way is
        applied at its own time, so long steps are safe)."""
        remaining = seconds
        while remaining > 0:
            step = min(remaining, self.seconds_to_change())
            self.time_in_stage += step
            remaining -= step
            self._settle()
        return self.state

    def _settle(self) -> None:
        """Apply every stage change whose time has come (zero-length stages are passed through)."""
        while True:
            if self.stage == "green":
                wanted = self._wanted_green()
                if wanted is None:
                    return
                self._begin_change(wanted)
            elif self.stage == "yellow" and self.time_in_stage >= self.timing.yellow_time:
                self._enter("red", red_clearance_state(self.green_states[self.green], self._next_state))
            elif self.stage == "red" and self.time_in_stage >= self.timing.red_clearance:
                self.green = self.next_green
                self._enter("green", self.green_states[self.green])
            else:
                return

    def _wanted_green(self) -> int | None:
        if self.target != self.green and self.time_in_stage >= self.timing.min_green:
            return self.target
        if self.time_in_stage >= self.timing.max_green and len(self.green_states) > 1:
            # Max green forces the next phase of the table; the request stays, served after its min green.
            return (self.green + 1) % len(self.green_states)
        return None

    @property
    def _next_state(self) -> str:
        return self.green_states[self.next_green]

    def _begin_change(self, green_index: int) -> None:
        self.next_green = green_index
        current = self.green_states[self.green]
        yellow = yellow_state(current, self._next_state)
        if yellow == current:  # nothing loses its green: no clearance needed
            self.green = green_index
            self._enter("green", self._next_state)
        else:
            self._enter("yellow", yellow)

    def _enter(self, stage: str, state: str) -> None:
        self.stage = stage
        self.time_in_stage = 0.0
        self.state = state
