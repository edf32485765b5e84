"""Observation assembly from detector readings: the exact vector a policy sees, in training and on
the controller cabinet.

Each incoming lane of an intersection has one lane-area detector (SUMO E2; on the street a camera
or radar zone) ending at the stop line. A detector reports two numbers per decision: vehicles on it
(``count``) and halting vehicles on it (``queue``: SUMO's E2 halting number, vehicles slower than
1.39 m/s = 5 km/h for at least 1 s).
One observation vector, in this order (``n`` = green phases, ``L`` = incoming lanes)::

    [0, n)          current green phase, one-hot (during yellow/red: the green being left)
    n               1.0 while yellow or red clearance is shown, else 0.0
    n + 1           time in the current stage / max_green, clipped to [0, 1]
    [n+2, n+2+L)    count / capacity per detector, clipped to [0, 1]
    [n+2+L, n+2+2L) queue / capacity per detector, clipped to [0, 1]

``capacity`` is the detector length / 7.5 m (a 5 m car and its 2.5 m gap). numpy only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

VEHICLE_SPACING_M = 7.5


@dataclass(frozen=True)
class ObservationLayout:
    """Which detectors, in which order, and how many green phases make one intersection's vector."""

    detector_ids: tuple[str, ...]
    detector_capacity: tuple[float, ...]  # vehicles that fit on each detector
    n_green_phases: int
    max_green: float

    @property
    def size(self) -> int:
        return self.n_green_phases + 2 + 2 * len(self.detector_ids)

    @property
    def detector_slice(self) -> slice:
        """Where the detector features (counts then queues) sit in the vector."""
        return slice(self.n_green_phases + 2, self.size)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ObservationLayout:
        return cls(
            detector_ids=tuple(data["detector_ids"]),
            detector_capacity=tuple(float(c) for c in data["detector_capacity"]),
            n_green_phases=int(data["n_green_phases"]),
            max_green=float(data["max_green"]),
        )


def detector_capacity(length_m: float) -> float:
    """Vehicles that fit on a detector of ``length_m`` metres (at least one)."""
    return max(1.0, length_m / VEHICLE_SPACING_M)


def build_observation(
    layout: ObservationLayout,
    counts: np.ndarray,
    queues: np.ndarray,
    green_index: int,
    in_transition: bool,
    time_in_stage: float,
) -> np.ndarray:
    """The float32 observation vector of one intersection (layout in the module docstring).

    ``counts`` and ``queues`` are the detector readings in ``layout.detector_ids`` order.
    """
    n = layout.n_green_phases
    capacity = np.asarray(layout.detector_capacity, dtype=np.float32)
    obs = np.zeros(layout.size, dtype=np.float32)
    obs[green_index] = 1.0
    obs[n] = 1.0 if in_transition else 0.0
    obs[n + 1] = min(max(time_in_stage / layout.max_green, 0.0), 1.0)
    lanes = len(layout.detector_ids)
    np.clip(np.asarray(counts, dtype=np.float32) / capacity, 0.0, 1.0, out=obs[n + 2 : n + 2 + lanes])
    np.clip(np.asarray(queues, dtype=np.float32) / capacity, 0.0, 1.0, out=obs[n + 2 + lanes :])
    return obs
