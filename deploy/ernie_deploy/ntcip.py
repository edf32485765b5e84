"""The subset of NTCIP 1202 (v02, actuated signal controller objects) that ernie-traffic speaks over
SNMP, plus two vendor extension objects. The full list with units is in ``docs/hil.md``.

Phases are numbered from 1; NTCIP phase ``p`` is the ``p - 1``-th green phase of the intersection's
phase table. Phase groups are 8-bit masks, bit ``p - 1`` for phase ``p`` (group 1 = phases 1-8,
group 2 = phases 9-16). Detectors are numbered from 1 in the order of the intersection's detector
list (one per incoming lane).
"""

from __future__ import annotations

from collections.abc import Iterable

from ernie_deploy import snmp_ber

ASC = (1, 3, 6, 1, 4, 1, 1206, 4, 2, 1)  # NTCIP 1202 actuated signal controller node

# MIB-II sysName (RFC 3418): the intersection (SUMO traffic-light) id, so a runtime can check that it
# talks to the intersection its bundle entry is for.
SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)

# Phase parameters (phaseTable, indexed by phase): read-only here, they describe the timing the
# controller enforces. Times in tenths of a second for yellow/red clearance, seconds otherwise.
MAX_PHASES = (*ASC, 1, 1, 0)
PHASE_MIN_GREEN = (*ASC, 1, 2, 1, 4)
PHASE_MAX_GREEN = (*ASC, 1, 2, 1, 6)
PHASE_YELLOW_CHANGE = (*ASC, 1, 2, 1, 8)
PHASE_RED_CLEAR = (*ASC, 1, 2, 1, 9)
MAX_PHASE_GROUPS = (*ASC, 1, 3, 0)

# phaseStatusGroupTable, indexed by group: what the signal heads show now.
PHASE_STATUS_REDS = (*ASC, 1, 4, 1, 2)
PHASE_STATUS_YELLOWS = (*ASC, 1, 4, 1, 3)
PHASE_STATUS_GREENS = (*ASC, 1, 4, 1, 4)
PHASE_STATUS_VEH_CALLS = (*ASC, 1, 4, 1, 8)
PHASE_STATUS_ON = (*ASC, 1, 4, 1, 10)  # the phase being timed: the green, or the green being left
PHASE_STATUS_NEXTS = (*ASC, 1, 4, 1, 11)

# phaseControlGroupTable, indexed by group: what a central system or adaptive runtime commands.
PHASE_CONTROL_OMIT = (*ASC, 1, 5, 1, 2)
PHASE_CONTROL_HOLD = (*ASC, 1, 5, 1, 4)
PHASE_CONTROL_FORCE_OFF = (*ASC, 1, 5, 1, 5)
PHASE_CONTROL_VEH_CALL = (*ASC, 1, 5, 1, 6)
PHASE_CONTROL_COLUMNS = (
    PHASE_CONTROL_OMIT,
    PHASE_CONTROL_HOLD,
    PHASE_CONTROL_FORCE_OFF,
    PHASE_CONTROL_VEH_CALL,
)

# Detectors.
MAX_VEHICLE_DETECTORS = (*ASC, 2, 1, 0)
DETECTOR_CALL_PHASE = (*ASC, 2, 2, 1, 2)  # per detector: the phase its lane is served in
VOLUME_OCCUPANCY_SEQUENCE = (*ASC, 2, 5, 1, 0)  # 0..255, +1 (mod 256) per completed sample period
VOLUME_OCCUPANCY_PERIOD = (*ASC, 2, 5, 2, 0)  # seconds per sample period (= the decision step)
DETECTOR_VOLUME = (*ASC, 2, 5, 4, 1, 1)  # per detector: vehicles that crossed in the period, 0..254
DETECTOR_OCCUPANCY = (*ASC, 2, 5, 4, 1, 2)  # per detector: 0..200 = 0..100 % in 0.5 % steps

# Vendor extension under enterprise 32473 (IANA's number reserved for documentation, RFC 5612):
# per-detector values at the end of the period that NTCIP 1202 has no object for.
EXTENSION = (1, 3, 6, 1, 4, 1, 32473, 1202)
# halted vehicles on the detector's zone, in thousandths so that a fractional queue measure (e.g.
# SUMO's jam length in vehicles) passes unchanged
DETECTOR_QUEUE = (*EXTENSION, 1, 1)
QUEUE_SCALE = 1000
DETECTOR_VEHICLES = (*EXTENSION, 1, 2)  # vehicles on the detector's lane
STAGE_TIME = (*EXTENSION, 2, 1, 0)  # tenths of a second since the current green/yellow/red stage began
# per phase, OCTET STRING: the signal state its green shows, one SUMO letter per controlled link (the
# cabinet's phase table, which its conflict monitor permits; a runtime checks its bundle against it)
PHASE_LINK_STATES = (*EXTENSION, 4, 1)

# The sample-ready notification (an SNMPv2-Trap, RFC 3416), vendor extension: a controller sends it to
# the managers that talk to it whenever it publishes a new detector sample, so a runtime learns of the
# sample at once instead of polling the sequence. Its bindings: sysUpTime, snmpTrapOID = SAMPLE_READY,
# volumeOccupancySequence.
SYS_UP_TIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SNMP_TRAP_OID = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
SAMPLE_READY = (*EXTENSION, 3, 1)

OCCUPANCY_FULL_SCALE = 200  # detectorOccupancy value for 100 %
BYTE_MAX = 255


def phase_mask(phases: Iterable[int]) -> int:
    """Group-1 bit mask of NTCIP phase numbers (1..8)."""
    mask = 0
    for phase in phases:
        if not 1 <= phase <= 8:
            raise ValueError(f"NTCIP phase {phase} is outside group 1 (phases 1-8)")
        mask |= 1 << (phase - 1)
    return mask


def mask_phases(mask: int) -> list[int]:
    """NTCIP phase numbers set in a group-1 bit mask, ascending."""
    return [bit + 1 for bit in range(8) if mask >> bit & 1]


def oid_text(oid: tuple[int, ...]) -> str:
    """Dotted text form of an OID, for messages and docs."""
    return ".".join(map(str, oid))


def sample_ready(uptime_s: float, sequence: int) -> list[tuple[tuple[int, ...], snmp_ber.Value]]:
    """The variable bindings of the sample-ready notification for sample ``sequence``."""
    return [
        (SYS_UP_TIME, snmp_ber.TimeTicks(int(uptime_s * 100) % (1 << 32))),
        (SNMP_TRAP_OID, snmp_ber.ObjectName(SAMPLE_READY)),
        (VOLUME_OCCUPANCY_SEQUENCE, sequence),
    ]


def sample_ready_sequence(message: snmp_ber.Message) -> int | None:
    """The sequence a sample-ready notification announces; None for any other message."""
    binds = dict(message.var_binds)
    if message.pdu_tag != snmp_ber.TRAP or binds.get(SNMP_TRAP_OID) != SAMPLE_READY:
        return None
    sequence = binds.get(VOLUME_OCCUPANCY_SEQUENCE)
    return sequence if isinstance(sequence, int) else None
