"""The virtual signal controller of one intersection: what the SNMP agent reads and writes.

It behaves like an actuated controller in a cabinet that an adaptive system commands through NTCIP
phase control groups. It only requests greens from the intersection's
:class:`ernie_deploy.timing.SignalTimer` (the timing the policy was trained under), which serves
them with minimum green, yellow change and red clearance, so a misbehaving runtime can ask for
anything and the street still sees safe signals. Whenever no
command has arrived for ``watchdog_s`` simulated seconds it runs the network's fixed-time plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ernie_deploy import ntcip
from ernie_deploy.timing import SignalTimer

from ernie_traffic.envs.traffic.intersections import Intersection

CONTROL_COLUMNS = {
    ntcip.PHASE_CONTROL_HOLD: "hold",
    ntcip.PHASE_CONTROL_FORCE_OFF: "force_off",
    ntcip.PHASE_CONTROL_VEH_CALL: "veh_call",
    ntcip.PHASE_CONTROL_OMIT: "omit",
}


def detector_call_phases(intersection: Intersection) -> list[int]:
    """Per detector (incoming lane), the first NTCIP phase whose green serves it (0: none)."""
    return [
        next((g + 1 for g, moves in enumerate(intersection.movements) if any(lane == m[0] for m in moves)), 0)
        for lane in intersection.incoming_lanes
    ]


@dataclass
class PhaseControl:
    """The phase control group registers (group 1): bit ``p - 1`` stands for NTCIP phase ``p``."""

    hold: int = 0
    force_off: int = 0
    veh_call: int = 0
    omit: int = 0


@dataclass
class DetectorSample:
    """Detector data of the last completed sample period, per detector (= incoming lane)."""

    volume: np.ndarray  # vehicles that left the detector zone (crossed the stop line) in the period
    occupancy: np.ndarray  # mean fraction of the zone covered by vehicles over the period, 0..1
    vehicles: np.ndarray  # vehicles on the zone at the end of the period
    queue: np.ndarray  # halted vehicles on the zone at the end of the period

    @classmethod
    def empty(cls, n_detectors: int) -> DetectorSample:
        return cls(*(np.zeros(n_detectors) for _ in range(4)))


@dataclass
class VirtualController:
    """Signal controller of one intersection: control registers in, green requests and detector data out.

    NTCIP phase ``p`` is green phase ``p - 1`` of ``intersection.green_states``. ``timer`` is the
    intersection's signal timer, the one the street simulation advances; the controller only ever
    requests greens from it. Time is simulated seconds; the simulator sets ``now_s`` and calls
    :meth:`wanted_green` and :meth:`publish`, the SNMP agent writes the control registers.
    """

    intersection: Intersection
    timer: SignalTimer
    watchdog_s: float
    period_s: float
    control: PhaseControl = field(default_factory=PhaseControl)
    sample: DetectorSample = field(init=False)
    sequence: int = 0  # volumeOccupancySequence: +1 (mod 256) per published sample
    commands: int = 0  # SET requests that wrote control registers, ever
    commanded_sequence: int = -1  # the sample sequence current when the last command arrived
    last_command_s: float | None = None
    now_s: float = 0.0

    def __post_init__(self) -> None:
        self._call_phase = detector_call_phases(self.intersection)
        self._values: dict[tuple[int, ...], int | str] = {}
        self._values_key: tuple[int, int, float] | None = None
        self.sample = DetectorSample.empty(len(self.intersection.incoming_lanes))
        # The fixed-time plan: the network program's green phases with their durations, in order.
        durations = self.intersection.phase_durations
        self._plan_green_s = [durations[i] for i in self.intersection.green_phases]

    @property
    def n_phases(self) -> int:
        return len(self.intersection.green_phases)

    @property
    def remote(self) -> bool:
        """True while a runtime commands this controller (a command arrived within the watchdog)."""
        return self.last_command_s is not None and self.now_s - self.last_command_s < self.watchdog_s

    def write_control(self, column: tuple[int, ...], mask: int) -> None:
        """Store one phase control group register written over SNMP (already range-checked)."""
        setattr(self.control, CONTROL_COLUMNS[column], mask)

    def commit_command(self) -> None:
        """Mark the registers just written as a command for the current sample."""
        self.commands += 1
        self.commanded_sequence = self.sequence
        self.last_command_s = self.now_s

    def wanted_green(self) -> int:
        """The green to request from the timer for the next interval: the runtime's command while
        one is connected, else the fixed-time plan."""
        return self._commanded_green() if self.remote else self._plan_green()

    def publish(self, sample: DetectorSample) -> None:
        """A sample period ended: expose its detector data under the next sequence number."""
        self.sample = sample
        self.sequence = (self.sequence + 1) % 256

    def _commanded_green(self) -> int:
        """The green the control registers ask for, the way an actuated controller reads them: a
        held, non-omitted green stays; otherwise a forced-off (or omitted) green gives way to the
        next called, non-omitted phase after it in phase order; with no such call nothing changes."""
        current = self.timer.target
        bit = 1 << current
        control = self.control
        if control.hold & bit and not control.omit & bit:
            return current
        if not (control.force_off | control.omit) & bit:
            return current
        for step in range(1, self.n_phases):
            candidate = (current + step) % self.n_phases
            if control.veh_call >> candidate & 1 and not control.omit >> candidate & 1:
                return candidate
        return current

    def _plan_green(self) -> int:
        """The fixed-time plan's green: the current one until its planned duration has run."""
        timer = self.timer
        if timer.in_transition or timer.time_in_stage < self._plan_green_s[timer.green]:
            return timer.target if timer.in_transition else timer.green
        return (timer.green + 1) % self.n_phases

    def status_masks(self) -> tuple[int, int, int]:
        """(greens, yellows, reds) phase status group masks of what the signal shows now."""
        timer = self.timer
        green_bit = 1 << timer.green
        all_bits = (1 << self.n_phases) - 1
        if timer.stage == "green":
            return green_bit, 0, all_bits & ~green_bit
        if timer.stage == "yellow":
            return 0, green_bit, all_bits & ~green_bit
        return 0, 0, all_bits

    def next_mask(self) -> int:
        """phaseStatusGroupPhaseNexts: the green the controller will serve next, if changing."""
        timer = self.timer
        return 1 << timer.next_green if timer.in_transition else 0

    def ntcip_values(self) -> dict[tuple[int, ...], int | str]:
        """Every readable object instance and its current value (see docs/hil.md)."""
        # Values change only with a new sample, a command, or simulated time (the timer advances
        # with the simulation): between those, polls are answered from the last table.
        key = (self.sequence, self.commands, self.now_s)
        if key != self._values_key:
            self._values, self._values_key = self._build_values(), key
        return self._values

    def _build_values(self) -> dict[tuple[int, ...], int | str]:
        greens, yellows, reds = self.status_masks()
        values: dict[tuple[int, ...], int | str] = {
            ntcip.SYS_NAME: self.intersection.id,
            ntcip.MAX_PHASES: self.n_phases,
            ntcip.MAX_PHASE_GROUPS: 1,
            ntcip.MAX_VEHICLE_DETECTORS: len(self.sample.volume),
            ntcip.VOLUME_OCCUPANCY_SEQUENCE: self.sequence,
            ntcip.VOLUME_OCCUPANCY_PERIOD: round(self.period_s),
            (*ntcip.PHASE_STATUS_GREENS, 1): greens,
            (*ntcip.PHASE_STATUS_YELLOWS, 1): yellows,
            (*ntcip.PHASE_STATUS_REDS, 1): reds,
            (*ntcip.PHASE_STATUS_ON, 1): 1 << self.timer.green,
            (*ntcip.PHASE_STATUS_NEXTS, 1): self.next_mask(),
            (*ntcip.PHASE_STATUS_VEH_CALLS, 1): self.control.veh_call,
            ntcip.STAGE_TIME: round(self.timer.time_in_stage * 10),
        }
        for column, name in CONTROL_COLUMNS.items():
            values[(*column, 1)] = getattr(self.control, name)
        for phase, state in enumerate(self.timer.green_states, start=1):
            values[(*ntcip.PHASE_LINK_STATES, phase)] = state
            values[(*ntcip.PHASE_MIN_GREEN, phase)] = round(self.timer.timing.min_green)
            values[(*ntcip.PHASE_MAX_GREEN, phase)] = round(self.timer.timing.max_green)
            values[(*ntcip.PHASE_YELLOW_CHANGE, phase)] = round(self.timer.timing.yellow_time * 10)
            values[(*ntcip.PHASE_RED_CLEAR, phase)] = round(self.timer.timing.red_clearance * 10)
        for detector, phase in enumerate(self._call_phase, start=1):
            values[(*ntcip.DETECTOR_CALL_PHASE, detector)] = phase
        sample = self.sample
        occupancy = np.clip(
            np.rint(sample.occupancy * ntcip.OCCUPANCY_FULL_SCALE), 0, ntcip.OCCUPANCY_FULL_SCALE
        )
        columns = {
            ntcip.DETECTOR_VOLUME: np.minimum(sample.volume, ntcip.BYTE_MAX - 1),
            ntcip.DETECTOR_OCCUPANCY: occupancy,
            ntcip.DETECTOR_VEHICLES: sample.vehicles,
            ntcip.DETECTOR_QUEUE: np.rint(sample.queue * ntcip.QUEUE_SCALE),
        }
        for column, data in columns.items():
            for detector, value in enumerate(data, start=1):
                values[(*column, detector)] = int(value)
        return values
