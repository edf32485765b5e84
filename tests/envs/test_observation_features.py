"""Observation assembly from detector readings (ernie_deploy.features), without SUMO."""

from __future__ import annotations

import numpy as np
import pytest
from ernie_deploy.features import (
    ObservationAssembler,
    ObservationLayout,
    build_observation,
    detector_capacity,
)

TWO_LANES = ObservationLayout(("in:a_0", "in:b_0"), (2.0, 4.0), n_green_phases=2, max_green=60.0)
THREE_LANES = ObservationLayout(
    ("in:c_0", "in:c_1", "in:d_0"), (10.0, 10.0, 5.0), n_green_phases=3, max_green=50.0
)


def test_vector_follows_the_documented_layout():
    obs = build_observation(TWO_LANES, np.array([1, 9]), np.array([1, 0]), 1, True, 30.0)
    #                  one-hot    yellow/red  time/max  counts/capacity  queues/capacity
    expected = np.array([0, 1, 1, 0.5, 0.5, 1.0, 0.5, 0.0], dtype=np.float32)
    np.testing.assert_array_equal(obs, expected)
    assert obs.dtype == np.float32 and TWO_LANES.size == 8


def test_many_intersections_at_once_equal_one_at_a_time():
    rng = np.random.default_rng(0)
    counts, queues = rng.integers(0, 12, 5), rng.integers(0, 6, 5)
    greens, transition, times = np.array([1, 2]), np.array([False, True]), np.array([70.0, 3.0])
    assembler = ObservationAssembler([TWO_LANES, THREE_LANES])
    views = assembler.split(assembler.assemble(counts, queues, greens, transition, times))
    one = build_observation(TWO_LANES, counts[:2], queues[:2], 1, False, 70.0)
    other = build_observation(THREE_LANES, counts[2:], queues[2:], 2, True, 3.0)
    np.testing.assert_array_equal(views[0], one)
    np.testing.assert_array_equal(views[1], other)
    assert views[0][3] == 1.0  # time in stage clipped at max green


def test_green_outside_the_table_is_rejected():
    with pytest.raises(ValueError, match="out of range"):
        build_observation(TWO_LANES, np.zeros(2), np.zeros(2), 2, False, 0.0)


def test_layout_survives_a_manifest_round_trip():
    assert ObservationLayout.from_dict(THREE_LANES.to_dict()) == THREE_LANES
    assert detector_capacity(75.0) == 10.0 and detector_capacity(2.0) == 1.0
