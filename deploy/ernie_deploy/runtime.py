"""The controller's decision loop: detector readings -> observation -> ONNX -> safety shield -> signals.

Every decision interval the cabinet calls :meth:`ControllerRuntime.decide` with the detector
readings of each intersection; between decisions it calls :meth:`ControllerRuntime.advance` with
the seconds that passed and applies the signal states it gets back. Whatever the model does, the
state shown is decided by ``ernie_deploy.timing.SignalTimer`` (the safety shield: minimum and
maximum green, yellow then red clearance between conflicting greens, only table phases).

An intersection falls back to its fixed-time plan for one decision, with the reason logged, when
its readings are unusable (missing, wrong length, NaN/inf, negative), inference raises, the model
returns NaN/inf, or the whole decision misses its deadline. The next healthy decision goes back to
the model. The loop itself never raises on bad readings or a failing model.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ernie_deploy.bundle import Bundle, IntersectionSpec, PlanStep
from ernie_deploy.cabinet import Cabinet, CabinetIntersection, check_fits
from ernie_deploy.features import build_observation
from ernie_deploy.latency import LatencyStats
from ernie_deploy.policy import OnnxPolicy
from ernie_deploy.timing import SignalTimer

log = logging.getLogger("ernie_deploy")

# (counts, queues): one number per detector of the intersection, in the manifest's detector order.
DetectorReadings = tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray]

MODEL = "model"
FALLBACK = "fallback"


@dataclass(frozen=True)
class Decision:
    """What one intersection asked the shield for, and why."""

    green: int  # index into the intersection's green phases
    source: str  # MODEL or FALLBACK
    reason: str | None = None  # why the fallback plan was used


class FallbackPlan:
    """The fixed-time plan: which green is due at a given time of the plan's repeating cycle."""

    def __init__(self, steps: Sequence[PlanStep]) -> None:
        self.ends = np.cumsum([step.duration_s for step in steps])
        self.greens = [step.green for step in steps]

    def green_at(self, clock_s: float) -> int:
        position = clock_s % self.ends[-1]
        return self.greens[int(np.searchsorted(self.ends, position, side="right"))]


class ControllerRuntime:
    """Runs a verified bundle's controllers for the intersections named (all by default).

    ``deadline_s`` bounds one decision (observation assembly and inference for all intersections);
    a slower decision is discarded in favour of the fallback plan. With a ``cabinet`` (the
    intersections' own configuration, ``ernie_deploy.cabinet``) a bundle that does not fit it is
    refused with :class:`BundleError`, and the shield times with the cabinet's phase table and
    timing; without one, with the manifest's.

    >>> runtime = ControllerRuntime(load_bundle("bundle/"))             # doctest: +SKIP
    >>> decisions = runtime.decide({"A0": (counts, queues), ...})       # doctest: +SKIP
    >>> states = runtime.advance(5.0)   # {"A0": "GGrr", ...}           # doctest: +SKIP
    """

    def __init__(
        self,
        bundle: Bundle,
        *,
        intersections: Sequence[str] | None = None,
        deadline_s: float = 0.1,
        cabinet: Cabinet | None = None,
    ) -> None:
        names = list(intersections) if intersections is not None else list(bundle.intersections)
        unknown = [tls for tls in names if tls not in bundle.intersections]
        if unknown:
            raise ValueError(f"intersections {unknown} are not in the bundle for network {bundle.network!r}")
        if cabinet is not None:
            check_fits(bundle, cabinet, names)
        self.bundle = bundle
        self.deadline_s = deadline_s
        self.specs: dict[str, IntersectionSpec] = {tls: bundle.intersections[tls] for tls in names}
        models = {spec.model for spec in self.specs.values()}
        self.policies = {name: OnnxPolicy(bundle, bundle.models[name]) for name in sorted(models)}
        own = cabinet.intersections if cabinet is not None else _own_cabinets(self.specs)
        self.timers = {tls: SignalTimer(own[tls].green_states, own[tls].timing) for tls in self.specs}
        self.plans = {tls: FallbackPlan(spec.fallback_plan) for tls, spec in self.specs.items()}
        self.latency = LatencyStats()
        self.fallbacks: Counter[str] = Counter()
        self.clock_s = 0.0
        self._source = dict.fromkeys(names, MODEL)

    def reset(self, initial_greens: Mapping[str, int] | None = None) -> None:
        """Start every timer at its initial green (0 unless given) and the clock at zero."""
        for tls, timer in self.timers.items():
            timer.reset((initial_greens or {}).get(tls, 0))
        self.clock_s = 0.0

    def observation(self, tls: str, readings: DetectorReadings) -> np.ndarray:
        """The observation vector of ``tls`` now; raises ValueError on unusable readings."""
        spec, timer = self.specs[tls], self.timers[tls]
        counts, queues = _detector_values(spec, readings)
        return build_observation(
            spec.layout, counts, queues, timer.green, timer.in_transition, timer.time_in_stage
        )

    def decide(self, readings: Mapping[str, DetectorReadings]) -> dict[str, Decision]:
        """Choose and request the next green of every intersection (see the module docstring)."""
        start = time.perf_counter()
        problems: dict[str, str] = {}
        observations: dict[str, np.ndarray] = {}
        for tls in self.specs:
            try:
                observations[tls] = self.observation(tls, readings[tls])
            except KeyError:
                problems[tls] = "no detector readings"
            except Exception as exc:  # whatever the readings are, the loop must go on
                problems[tls] = f"unusable detector readings: {_first_line(exc)}"
        greens = self._infer(observations, problems)
        elapsed = time.perf_counter() - start
        if elapsed > self.deadline_s:
            miss = f"deadline missed ({elapsed * 1e3:.2f} ms > {self.deadline_s * 1e3:.2f} ms)"
            problems.update((tls, miss) for tls in greens)
            greens = {}
        decisions = {}
        for tls in self.specs:
            if tls in greens:
                decision = Decision(green=greens[tls], source=MODEL)
            else:
                decision = Decision(self.plans[tls].green_at(self.clock_s), FALLBACK, problems.get(tls))
            self.timers[tls].request(decision.green)
            self._note(tls, decision)
            decisions[tls] = decision
        self.latency.record(time.perf_counter() - start)
        return decisions

    def advance(
        self, seconds: float, on_change: Callable[[str, float, str], None] | None = None
    ) -> dict[str, str]:
        """Let ``seconds`` pass; returns each intersection's signal state now. ``on_change(tls,
        clock_s, state)`` is called for every state change on the way, at its own time."""
        for tls, timer in self.timers.items():
            elapsed = 0.0
            while elapsed < seconds:
                step = min(seconds - elapsed, timer.seconds_to_change())
                before = timer.state
                timer.advance(step)
                elapsed += step
                if on_change is not None and timer.state != before:
                    on_change(tls, self.clock_s + elapsed, timer.state)
        self.clock_s += seconds
        return self.signal_states()

    def signal_states(self) -> dict[str, str]:
        return {tls: timer.state for tls, timer in self.timers.items()}

    def choose(self, observations: Mapping[str, np.ndarray]) -> tuple[dict[str, int], dict[str, str]]:
        """The models' greedy greens for observation vectors assembled elsewhere, and why any
        intersection got none. No readings, shield or fallback: for a simulator that builds (and
        perturbs) the observations and enforces the timing itself, as the stress test does."""
        problems: dict[str, str] = {}
        return self._infer(observations, problems), problems

    def _infer(self, observations: Mapping[str, np.ndarray], problems: dict[str, str]) -> dict[str, int]:
        """Greedy greens from the models, one batched call per model; failures go to ``problems``.

        A model's input row is the observation, zero-padded and followed by the intersection's
        one-hot when the model is shared (``IntersectionSpec.model_input``)."""
        greens: dict[str, int] = {}
        for name, policy in self.policies.items():
            batch = [tls for tls in observations if self.specs[tls].model == name]
            if not batch:
                continue
            try:
                rows = np.zeros((len(batch), policy.spec.input_size), dtype=np.float32)
                for row, tls in zip(rows, batch, strict=True):
                    spec = self.specs[tls]
                    row[: spec.layout.size] = observations[tls]
                    if spec.model_input is not None:
                        row[spec.model_input.id_column] = 1.0
                scores = policy.scores(rows)
                if scores.shape != (len(batch), policy.spec.output_size):
                    raise ValueError(
                        f"output shape {scores.shape}, expected ({len(batch)}, {policy.spec.output_size})"
                    )
            except Exception as exc:  # any failure of the model must end in the fallback plan, not a crash
                reason = f"inference failed: {_first_line(exc)}"
                problems.update((tls, reason) for tls in batch)
                continue
            # Python floats: for a handful of scores this is several times cheaper than numpy calls.
            for tls, row in zip(batch, scores.tolist(), strict=True):
                valid = row[: len(self.specs[tls].green_phases)]
                if all(map(math.isfinite, valid)):
                    greens[tls] = valid.index(max(valid))  # the first maximum, as numpy/torch argmax
                else:
                    problems[tls] = "model returned NaN or infinite scores"
        return greens

    def _note(self, tls: str, decision: Decision) -> None:
        """Log each switch between model and fallback plan once, and count fallback decisions."""
        if decision.source == FALLBACK:
            self.fallbacks[decision.reason or "unknown"] += 1
        if decision.source != self._source[tls]:
            if decision.source == FALLBACK:
                log.warning("%s: fixed-time fallback: %s", tls, decision.reason)
            else:
                log.info("%s: model healthy again, back from the fallback plan", tls)
            self._source[tls] = decision.source


def _own_cabinets(specs: Mapping[str, IntersectionSpec]) -> dict[str, CabinetIntersection]:
    """Without a cabinet, the manifest's own phase table and timing (``python -m ernie_deploy check``
    with no cabinet file, tests)."""
    return {tls: CabinetIntersection(spec.green_states, spec.timing) for tls, spec in specs.items()}


def _detector_values(spec: IntersectionSpec, readings: DetectorReadings) -> np.ndarray:
    """``[counts, queues]`` as one float32 ``[2, detectors]`` array; ValueError names any problem."""
    expected = len(spec.layout.detector_ids)
    try:
        values = np.asarray(readings, dtype=np.float32)
    except (TypeError, ValueError):
        values = None
    # Fast path: two reductions check everything (NaN fails ``min >= 0``, an infinity makes the
    # sum infinite); the exact problem is worked out only when there is one.
    if (
        values is not None
        and values.shape == (2, expected)
        and values.min() >= 0
        and np.isfinite(values.sum())
    ):
        return values
    if len(readings) != 2:
        raise ValueError(f"expected (counts, queues), got {len(readings)} arrays")
    for kind, reading in zip(("counts", "queues"), readings, strict=True):
        array = np.asarray(reading, dtype=np.float32)
        if array.shape != (expected,):
            raise ValueError(f"{kind} has shape {array.shape}, expected ({expected},) (one per detector)")
        if not np.isfinite(array).all():
            raise ValueError(f"{kind} contains NaN or infinity")
        if (array < 0).any():
            raise ValueError(f"{kind} contains negative values")
    raise ValueError("unusable readings")  # unreachable: one of the checks above failed


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
