"""The decision loop: model decisions, fallback with a logged reason on every kind of failure,
return to the model when healthy, latency bookkeeping. Real ONNX models throughout."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from ernie_deploy.bundle import PlanStep
from ernie_deploy.runtime import FALLBACK, MODEL, ControllerRuntime, FallbackPlan
from toy_bundle import LAYOUT, mlp

HEALTHY = {"J1": ([3, 1], [0, 0]), "J2": ([1, 12], [1, 4])}


class NaNWhenQueued(torch.nn.Module):
    """An MLP whose scores turn NaN when detector in_0 counts more than half its capacity."""

    def __init__(self) -> None:
        super().__init__()
        self.body = mlp()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        first_count = obs[:, LAYOUT.n_green_phases + 2 : LAYOUT.n_green_phases + 3]
        return self.body(obs) + torch.log(0.5 - first_count)


class BatchOfOne(torch.nn.Module):
    """Exports with a fixed reshape, so onnxruntime raises when asked for two intersections at once."""

    def __init__(self) -> None:
        super().__init__()
        self.body = mlp()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.body(obs.reshape(1, LAYOUT.size))


def test_model_decisions_are_the_torch_policy_greedy_choices(make_bundle):
    module = mlp()
    runtime = ControllerRuntime(make_bundle(module))
    for step in range(6):
        readings = {tls: (np.array(c) + step, np.array(q)) for tls, (c, q) in HEALTHY.items()}
        observations = {tls: runtime.observation(tls, r) for tls, r in readings.items()}
        decisions = runtime.decide(readings)
        for tls, obs in observations.items():
            expected = int(module(torch.from_numpy(obs)[None]).argmax())
            assert decisions[tls].source == MODEL
            assert decisions[tls].green == expected
        runtime.advance(5.0)
    assert runtime.latency.summary()["decisions"] == 6
    assert runtime.fallbacks.total() == 0


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (([np.nan, 1], [0, 0]), "counts contains NaN"),
        (([1, 1], [0, np.inf]), "queues contains NaN or infinity"),
        (([1, 1, 1], [0, 0, 0]), "shape (3,)"),
        (([1, -2], [0, 0]), "negative"),
        (("broken",), "expected (counts, queues)"),
        (None, "no detector readings"),
    ],
)
def test_bad_readings_fall_back_for_that_intersection_only_then_recover(make_bundle, caplog, bad, reason):
    runtime = ControllerRuntime(make_bundle())
    readings = dict(HEALTHY)
    if bad is None:
        del readings["J1"]
    else:
        readings["J1"] = bad
    with caplog.at_level(logging.INFO, logger="ernie_deploy"):
        decisions = runtime.decide(readings)
        assert decisions["J1"].source == FALLBACK and reason in decisions["J1"].reason
        assert decisions["J1"].green == runtime.plans["J1"].green_at(runtime.clock_s)
        assert decisions["J2"].source == MODEL
        runtime.advance(5.0)
        assert runtime.decide(HEALTHY)["J1"].source == MODEL
    assert any("fixed-time fallback" in r.message and reason in r.message for r in caplog.records)
    assert any("back from the fallback plan" in r.message for r in caplog.records)


def test_nan_model_output_falls_back_and_recovers(make_bundle):
    runtime = ControllerRuntime(make_bundle(NaNWhenQueued()))
    queued = {"J1": ([9, 0], [9, 0]), "J2": HEALTHY["J2"]}
    decisions = runtime.decide(queued)
    assert decisions["J1"].source == FALLBACK
    assert decisions["J1"].reason == "model returned NaN or infinite scores"
    assert decisions["J2"].source == MODEL
    runtime.advance(5.0)
    assert runtime.decide(HEALTHY)["J1"].source == MODEL


def test_inference_exception_falls_back_without_crashing(make_bundle):
    bundle = make_bundle(BatchOfOne())
    both = ControllerRuntime(bundle)
    decisions = both.decide(HEALTHY)
    assert {d.source for d in decisions.values()} == {FALLBACK}
    assert decisions["J1"].reason.startswith("inference failed:")
    single = ControllerRuntime(bundle, intersections=["J1"])
    assert single.decide(HEALTHY)["J1"].source == MODEL


def test_deadline_miss_falls_back_and_a_met_deadline_returns_to_the_model(make_bundle):
    runtime = ControllerRuntime(make_bundle(), deadline_s=0.0)
    decisions = runtime.decide(HEALTHY)
    assert all(d.source == FALLBACK and "deadline missed" in d.reason for d in decisions.values())
    runtime.deadline_s = 1.0
    runtime.advance(5.0)
    assert all(d.source == MODEL for d in runtime.decide(HEALTHY).values())
    assert sum(n for reason, n in runtime.fallbacks.items() if "deadline" in reason) == 2


def test_fallback_plan_cycles_through_its_steps():
    plan = FallbackPlan([PlanStep(green=0, duration_s=30), PlanStep(green=1, duration_s=20)])
    assert [plan.green_at(t) for t in (0, 29.9, 30, 49.9, 50, 85)] == [0, 0, 1, 1, 0, 1]


def test_unknown_intersection_is_refused(make_bundle):
    with pytest.raises(ValueError, match="not in the bundle"):
        ControllerRuntime(make_bundle(), intersections=["Z9"])


@pytest.mark.parametrize("readings", [None, 42, {"J1": object(), "J2": {"counts": 1}}, {"J1": ([], [])}])
def test_garbage_readings_never_crash_the_loop(make_bundle, readings):
    runtime = ControllerRuntime(make_bundle())
    decisions = runtime.decide(readings)
    assert {d.source for d in decisions.values()} == {FALLBACK}
    assert runtime.advance(5.0).keys() == {"J1", "J2"}
