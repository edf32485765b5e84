"""The manifest's feature list names each element of the vector ``features.build_observation`` makes."""

from __future__ import annotations

import numpy as np
from ernie_deploy.features import build_observation
from toy_bundle import LAYOUT

from ernie_traffic.export.manifest import describe_features, fallback_plan


def test_each_named_detector_feature_is_where_build_observation_puts_it():
    names = [feature["name"] for feature in describe_features(LAYOUT)]
    assert len(names) == LAYOUT.size and len(set(names)) == LAYOUT.size
    zeros = np.zeros(len(LAYOUT.detector_ids))
    for i, (detector, capacity) in enumerate(zip(LAYOUT.detector_ids, LAYOUT.detector_capacity, strict=True)):
        full = zeros.copy()
        full[i] = capacity
        counts_only = build_observation(LAYOUT, full, zeros, 0, False, 0.0)
        queues_only = build_observation(LAYOUT, zeros, full, 0, False, 0.0)
        assert counts_only[names.index(f"count:{detector}")] == 1.0
        assert queues_only[names.index(f"queue:{detector}")] == 1.0
        assert counts_only.sum() == queues_only.sum() == 2.0  # that one, plus the one-hot green


def test_signal_features_are_named_in_order():
    obs = build_observation(LAYOUT, np.zeros(2), np.zeros(2), 1, True, 30.0)
    names = [feature["name"] for feature in describe_features(LAYOUT)]
    assert obs[names.index("green_1")] == 1.0 and obs[names.index("green_0")] == 0.0
    assert obs[names.index("in_transition")] == 1.0
    assert obs[names.index("time_in_stage")] == 30.0 / LAYOUT.max_green


def test_fallback_plan_is_the_programs_greens_in_order():
    phases = ["GGrr", "yyrr", "rrGG", "rryy", "GGrr", "yyrr"]
    plan = fallback_plan(phases, [30, 3, 20, 3, 10, 3], green_phases=[0, 2])
    assert plan == [
        {"green": 0, "duration_s": 30.0},
        {"green": 1, "duration_s": 20.0},
        {"green": 0, "duration_s": 10.0},
    ]
