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

import functools
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

    @functools.cached_property
    def inverse_capacity(self) -> np.ndarray:
        return 1.0 / np.asarray(self.detector_capacity, dtype=np.float32)

    @functools.cached_property
    def assembler(self) -> ObservationAssembler:
        """This layout's own assembler (built once)."""
        return ObservationAssembler([self])

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


class ObservationAssembler:
    """Builds the observations of several intersections in one numpy pass: the vectors are views
    into one fresh float32 array per call (the layout of each is in the module docstring)."""

    def __init__(self, layouts: list[ObservationLayout]):
        self.layouts = list(layouts)
        sizes = np.array([layout.size for layout in self.layouts], dtype=np.int64)
        self.offsets = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
        self.total_size = int(sizes.sum())
        n_greens = np.array([layout.n_green_phases for layout in self.layouts], dtype=np.int64)
        self._n_greens = n_greens.astype(np.uint64)
        self._transition_at = self.offsets + n_greens
        self._time_at = self._transition_at + 1
        self._inverse_max_green = np.array([1.0 / layout.max_green for layout in self.layouts])
        lanes = [len(layout.detector_ids) for layout in self.layouts]
        detector_start = self._transition_at + 2
        self._count_at = np.concatenate(
            [start + np.arange(n) for start, n in zip(detector_start, lanes, strict=True)]
        )
        self._queue_at = self._count_at + np.repeat(np.array(lanes, dtype=np.int64), lanes)
        self._inverse_capacity = np.concatenate([layout.inverse_capacity for layout in self.layouts])

    def assemble(
        self,
        counts: np.ndarray,
        queues: np.ndarray,
        green_index: np.ndarray | list[int],
        in_transition: np.ndarray | list[bool],
        time_in_stage: np.ndarray | list[float],
    ) -> np.ndarray:
        """All observations concatenated; ``counts``/``queues`` hold every intersection's detector
        readings in layout order, the other arguments one entry per intersection."""
        green_index = np.asarray(green_index, dtype=np.int64)
        if (green_index.astype(np.uint64) >= self._n_greens).any():  # negatives wrap to huge
            raise ValueError(f"green phase index out of range: {green_index.tolist()}")
        flat = np.zeros(self.total_size, dtype=np.float32)
        flat[self.offsets + green_index] = 1.0
        flat[self._transition_at] = in_transition
        time_fraction = np.asarray(time_in_stage) * self._inverse_max_green
        flat[self._time_at] = np.minimum(np.maximum(time_fraction, 0.0), 1.0)  # np.clip is slower
        flat[self._count_at] = np.minimum(np.asarray(counts) * self._inverse_capacity, 1.0)  # never negative
        flat[self._queue_at] = np.minimum(np.asarray(queues) * self._inverse_capacity, 1.0)
        return flat

    def split(self, flat: np.ndarray) -> list[np.ndarray]:
        """The per-intersection views of an :meth:`assemble` result."""
        return [flat[o : o + layout.size] for o, layout in zip(self.offsets, self.layouts, strict=True)]


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
    return layout.assembler.assemble(counts, queues, [green_index], [in_transition], [time_in_stage])
