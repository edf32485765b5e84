"""Lane-area (E2) detectors generated into an additional file: one per incoming lane ending at the
stop line (``in:<lane>``) and one per outgoing lane starting at the lane's beginning
(``out:<lane>``). Their ids are what a deployment manifest lists, one to one."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
import traci.constants as tc
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
    incoming: dict[str, slice] = field(init=False)
    outgoing: dict[str, np.ndarray] = field(init=False)
    capacity: dict[str, tuple[float, ...]] = field(init=False)

    def __post_init__(self) -> None:
        self.incoming_ids, self.incoming, self.capacity = [], {}, {}
        out_lanes: dict[str, int] = {}
        self.outgoing = {}
        for agent, tls in self.intersections.items():
            start = len(self.incoming_ids)
            self.incoming_ids += [incoming_detector_id(lane) for lane in tls.incoming_lanes]
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
        self.counts_in = np.zeros(len(self.incoming_ids), dtype=np.float32)
        self.queues_in = np.zeros(len(self.incoming_ids), dtype=np.float32)
        self.counts_out = np.zeros(len(self.outgoing_ids), dtype=np.float32)

    def _length(self, lane: str, lane_length: float) -> float:
        return min(lane_length, self.detector_length) if self.detector_length else lane_length

    def write_additional(self, path: Path) -> Path:
        """The ``<additional>`` file declaring every detector (period 1e9 s: no file output)."""
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
        return path

    @staticmethod
    def _e2(detector: str, lane: str, begin: float, end: float) -> str:
        return (
            f'  <laneAreaDetector id={quoteattr(detector)} lane={quoteattr(lane)} pos="{begin:.2f}" '
            f'endPos="{end:.2f}" period="1000000000" file="NUL"/>'
        )

    def subscribe(self, api: Any) -> None:
        for detector in self.incoming_ids:
            api.lanearea.subscribe(
                detector, (tc.LAST_STEP_VEHICLE_NUMBER, tc.LAST_STEP_VEHICLE_HALTING_NUMBER)
            )
        for detector in self.outgoing_ids:
            api.lanearea.subscribe(detector, (tc.LAST_STEP_VEHICLE_NUMBER,))

    def read(self, api: Any) -> None:
        """Refresh the reading arrays from the subscriptions of the last simulation step."""
        results = api.lanearea.getAllSubscriptionResults()
        for i, detector in enumerate(self.incoming_ids):
            values = results[detector]
            self.counts_in[i] = values[tc.LAST_STEP_VEHICLE_NUMBER]
            self.queues_in[i] = values[tc.LAST_STEP_VEHICLE_HALTING_NUMBER]
        for i, detector in enumerate(self.outgoing_ids):
            self.counts_out[i] = results[detector][tc.LAST_STEP_VEHICLE_NUMBER]
