"""Lane-area detectors: one per incoming lane ending at the stop line (``in:<lane>``) and one per
outgoing lane starting at the lane's beginning (``out:<lane>``). Their ids are what a deployment
manifest lists, one to one.

With ``detector_length=None`` (default) a detector covers its whole lane and is read from SUMO's lane
(count: vehicles on the lane; queue: SUMO's halting vehicles, slower than 0.1 m/s). With a length,
real SUMO E2 detectors of that length are generated into an additional file (count: vehicles on the
detector; queue: E2 halting vehicles, slower than 1.39 m/s for 1 s); they cost SUMO time every step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
from ernie_deploy.features import detector_capacity

from ernie_traffic.envs.traffic.intersections import Intersection


def incoming_detector_id(lane: str) -> str:
    return f"in:{lane}"


def outgoing_detector_id(lane: str) -> str:
    return f"out:{lane}"


@dataclass
class DetectorBank:
    """All detectors of the controlled intersections and their latest readings.

    Readings are arrays over all detectors; ``incoming[agent]`` is the agent's slice of the incoming
    arrays and ``outgoing[agent]`` its indices into the outgoing array.
    """

    intersections: dict[str, Intersection]
    detector_length: float | None
    incoming_ids: list[str] = field(init=False)
    outgoing_ids: list[str] = field(init=False)
    sources_in: list[str] = field(init=False)  # what SUMO reads: the E2 detectors, or the lanes
    incoming: dict[str, slice] = field(init=False)
    outgoing: dict[str, np.ndarray] = field(init=False)
    capacity: dict[str, tuple[float, ...]] = field(init=False)

    def __post_init__(self) -> None:
        self.incoming_ids, self.incoming, self.capacity = [], {}, {}
        in_lanes: list[str] = []
        out_lanes: dict[str, int] = {}
        self.outgoing = {}
        for agent, tls in self.intersections.items():
            start = len(self.incoming_ids)
            self.incoming_ids += [incoming_detector_id(lane) for lane in tls.incoming_lanes]
            in_lanes += tls.incoming_lanes
            self.incoming[agent] = slice(start, len(self.incoming_ids))
            self.capacity[agent] = tuple(
                detector_capacity(self._length(lane, length))
                for lane, length in zip(tls.incoming_lanes, tls.incoming_lane_lengths, strict=True)
            )
            self.outgoing[agent] = np.array(
                [out_lanes.setdefault(lane, len(out_lanes)) for lane in tls.outgoing_lanes], dtype=np.int64
            )
        self.outgoing_ids = [outgoing_detector_id(lane) for lane in out_lanes]
        self._out_lanes = list(out_lanes)
        # Whole-lane detectors read the lanes themselves (no E2 objects slowing every SUMO step).
        self.sources_in = self.incoming_ids if self.detector_length else in_lanes
        out_sources = self.outgoing_ids if self.detector_length else self._out_lanes
        # An outgoing lane read as a whole is also some intersection's incoming lane: read it once.
        shared = {} if self.detector_length else {s: i for i, s in enumerate(self.sources_in)}
        self._out_only_sources = [s for s in out_sources if s not in shared]
        position = {s: len(self.sources_in) + i for i, s in enumerate(self._out_only_sources)}
        self._out_index = np.array([shared.get(s, position.get(s, 0)) for s in out_sources], dtype=np.int64)
        self._out_only = np.zeros(len(self._out_only_sources), dtype=np.float32)
        self.counts_in = np.zeros(len(self.incoming_ids), dtype=np.float32)
        self.queues_in = np.zeros(len(self.incoming_ids), dtype=np.float32)
        self._counts_out = np.zeros(len(self.outgoing_ids), dtype=np.float32)
        self._counts_out_from: Any = None  # the SUMO domain to read outgoing counts from, when stale
        # For per-agent sums in one numpy call each (rewards).
        self.incoming_starts = np.array([self.incoming[a].start for a in self.intersections], dtype=np.int64)
        self.outgoing_flat = np.concatenate(list(self.outgoing.values()))
        self.outgoing_owner = np.repeat(
            np.arange(len(self.outgoing)), [len(v) for v in self.outgoing.values()]
        )

    def per_agent_incoming_sum(self, values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values, self.incoming_starts)

    def per_agent_outgoing_sum(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(
            self.outgoing_owner, weights=values[self.outgoing_flat], minlength=len(self.outgoing)
        )

    def _length(self, lane: str, lane_length: float) -> float:
        return min(lane_length, self.detector_length) if self.detector_length else lane_length

    def write_additional(self, path: Path) -> list[Path]:
        """The ``<additional>`` file declaring every E2 detector (none for whole-lane detectors)."""
        if not self.detector_length:
            return []
        lines = ["<additional>"]
        out_lengths: dict[str, float] = {}
        for tls in self.intersections.values():
            for lane, length in zip(tls.incoming_lanes, tls.incoming_lane_lengths, strict=True):
                begin = max(0.0, length - self._length(lane, length))
                lines.append(self._e2(incoming_detector_id(lane), lane, begin, length))
            out_lengths.update(zip(tls.outgoing_lanes, tls.outgoing_lane_lengths, strict=True))
        for lane in self._out_lanes:
            length = out_lengths[lane]
            lines.append(self._e2(outgoing_detector_id(lane), lane, 0.0, self._length(lane, length)))
        lines.append("</additional>\n")
        path.write_text("\n".join(lines))
        return [path]

    @staticmethod
    def _e2(detector: str, lane: str, begin: float, end: float) -> str:
        return (
            f'  <laneAreaDetector id={quoteattr(detector)} lane={quoteattr(lane)} pos="{begin:.2f}" '
            f'endPos="{end:.2f}" period="1000000000" file="NUL"/>'
        )

    def domain(self, api: Any) -> Any:
        """The SUMO domain of :attr:`sources_in`: E2 detectors, or the lanes themselves."""
        return api.lanearea if self.detector_length else api.lane

    def read(self, api: Any) -> None:
        """Refresh the incoming readings (direct getter calls: no per-SUMO-step subscription cost).
        Outgoing readings are taken on first use of :attr:`counts_out` (most rewards never need them)."""
        domain = self.domain(api)
        count, halting = domain.getLastStepVehicleNumber, domain.getLastStepHaltingNumber
        counts = [count(source) for source in self.sources_in]
        self.counts_in[:] = counts
        self.queues_in[:] = [halting(s) if n else 0 for s, n in zip(self.sources_in, counts, strict=True)]
        self._counts_out_from = domain

    @property
    def counts_out(self) -> np.ndarray:
        """Vehicles on each outgoing detector, as of the last :meth:`read`."""
        self.read_outgoing()
        return self._counts_out

    def outgoing_counts_from(self, counts_in: np.ndarray) -> np.ndarray:
        """Vehicles on each outgoing detector, as of the last :meth:`read`, where an outgoing
        detector that is also an incoming one (whole-lane detectors) reads from ``counts_in``: the
        same physical detector, so perturbed incoming readings reach the outgoing side too."""
        self.read_outgoing()
        return np.concatenate((counts_in, self._out_only))[self._out_index]

    def read_outgoing(self) -> None:
        """Take the outgoing readings of the last :meth:`read` now, if not taken yet."""
        if self._counts_out_from is None:
            return
        count = self._counts_out_from.getLastStepVehicleNumber
        self._out_only[:] = [count(source) for source in self._out_only_sources]
        np.take(np.concatenate((self.counts_in, self._out_only)), self._out_index, out=self._counts_out)
        self._counts_out_from = None
