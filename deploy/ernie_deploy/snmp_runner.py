"""The field loop of a runtime over NTCIP: wait for a new detector sample, decide, command the phase.

One :func:`run_intersection` per intersection (a process may run several in threads). It stops by
itself: when the controller stops answering after having answered (the simulation ended, or the
cabinet went away), or when no new sample arrived for ``idle_timeout_s``, or after ``max_decisions``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ernie_deploy.bundle import Bundle, BundleError
from ernie_deploy.cabinet import Cabinet, CabinetIntersection
from ernie_deploy.latency import LatencyStats
from ernie_deploy.runtime import ControllerRuntime
from ernie_deploy.snmp_client import ControllerReading, ControllerUnreachable, NtcipClient, SnmpCredentials
from ernie_deploy.timing import SignalTimer

# Decides the NTCIP phase (1-based) to command from one reading of the controller.
Decide = Callable[[ControllerReading], int]


@dataclass
class RunnerStats:
    """How one intersection's loop went; ``round_trip`` times read + decide + command per decision."""

    decisions: int = 0
    stopped_because: str = ""
    round_trip: LatencyStats = field(default_factory=LatencyStats)


def run_intersection(
    client: NtcipClient,
    decide: Decide,
    *,
    poll_interval_s: float = 0.002,  # until the controller is seen to notify new samples
    idle_timeout_s: float = 30.0,
    max_decisions: int | None = None,
) -> RunnerStats:
    """Serve one controller until it goes away, stays idle for ``idle_timeout_s``, or
    ``max_decisions`` decisions were made."""
    stats = RunnerStats()
    last_sequence: int | None = None
    last_new_sample = time.monotonic()
    while max_decisions is None or stats.decisions < max_decisions:
        try:
            sequence = client.wait_for_sample(last_sequence, poll_interval_s)
            if sequence == last_sequence:
                if time.monotonic() - last_new_sample > idle_timeout_s:
                    stats.stopped_because = f"no new detector sample for {idle_timeout_s} s"
                    return stats
                continue
            started = time.perf_counter()
            reading = client.read()
            client.command_green(decide(reading))
            stats.round_trip.record(time.perf_counter() - started)
        except ControllerUnreachable as error:
            # Before the first decision this is a setup problem; after it, the end of the run.
            stats.stopped_because = f"controller stopped answering: {error}"
            return stats
        last_sequence, last_new_sample = reading.sequence, time.monotonic()
        stats.decisions += 1
    stats.stopped_because = f"made {max_decisions} decisions"
    return stats


def longest_queue(call_phases: list[int]) -> Decide:
    """A built-in rule for checking the link without a trained bundle: command the phase whose
    detectors (``call_phases[d]`` is detector ``d + 1``'s phase) hold the most halted vehicles."""

    def decide(reading: ControllerReading) -> int:
        totals: dict[int, float] = {}
        for phase, queue in zip(call_phases, reading.queue, strict=True):
            if phase:
                totals[phase] = totals.get(phase, 0) + queue
        current = reading.phase_on
        best = max(totals, key=lambda p: (totals[p], p == current), default=current)
        return best if best else 1

    return decide


def bundle_policy(
    bundle: Bundle, tls: str, cabinet: CabinetIntersection, *, deadline_s: float = 0.1
) -> tuple[Decide, ControllerRuntime]:
    """The bundle's controller for intersection ``tls`` (model, safety shield, fallback plan) as a
    decision rule over NTCIP readings, for the controller whose own phase table and timing are
    ``cabinet`` (``NtcipClient.cabinet``): a bundle that does not fit them raises ``BundleError``.
    The runtime's shield timer, timed like the cabinet, mirrors it: it advances one sample period
    per decision and is re-synchronised from the cabinet's reported status (phase on, green or not,
    stage time) whenever the two differ, e.g. after the cabinet ran fixed time."""
    runtime = ControllerRuntime(
        bundle, intersections=[tls], deadline_s=deadline_s, cabinet=Cabinet(None, {tls: cabinet})
    )
    timer = runtime.timers[tls]

    def decide(reading: ControllerReading) -> int:
        _follow_cabinet(timer, reading)
        decision = runtime.decide({tls: (reading.vehicles, reading.queue)})[tls]
        runtime.advance(reading.period_s)
        return decision.green + 1

    return decide, runtime


def _follow_cabinet(timer: SignalTimer, reading: ControllerReading) -> None:
    green, in_transition = reading.phase_on - 1, reading.phase_on not in reading.greens
    stage_time_matches = abs(timer.time_in_stage - reading.stage_time_s) <= 0.06  # reported in tenths
    if (timer.green, timer.in_transition) == (green, in_transition) and stage_time_matches:
        return
    # Restart the mirror from the cabinet's green. During a cabinet's yellow/red the mirror cannot
    # know the clearance's target: it shows the green being left until the next decision re-syncs.
    timer.reset(green)
    if not in_transition:
        timer.advance(reading.stage_time_s)


@dataclass
class FieldLoop:
    """One controller reached at ``address`` (``HOST:PORT``), running intersection ``tls``, and the rule
    that decides for it; ``runtime`` is the bundle's runtime, or None for the built-in rule."""

    address: str
    tls: str
    client: NtcipClient
    decide: Decide
    runtime: ControllerRuntime | None

    def report(self, stats: RunnerStats) -> str:
        """One line: decisions (and how many the fallback plan made), round trip, why it stopped."""
        trip = stats.round_trip.summary()
        fallbacks = f", {sum(self.runtime.fallbacks.values())} by the fallback plan" if self.runtime else ""
        return (
            f"{self.address} ({self.tls}): {stats.decisions} decisions{fallbacks}, round trip median "
            f"{trip['median_ms']:.2f} ms p99 {trip['p99_ms']:.2f} ms; stopped: {stats.stopped_because}"
        )


def connect(
    host: str,
    port: int,
    credentials: SnmpCredentials,
    bundle: Bundle | None = None,
    *,
    timeout_s: float = 1.0,
    deadline_s: float = 0.1,
) -> FieldLoop:
    """The field loop of the controller at ``host:port``: ``bundle``'s controller for the intersection
    the controller reports, fitted to its own phase table and timing, or without a bundle the
    :func:`longest_queue` rule. Raises ``ControllerUnreachable`` or ``BundleError``, one line naming
    the controller."""
    address = f"{host}:{port}"
    try:
        client = NtcipClient(host, port, credentials, timeout_s=timeout_s)
        tls = client.intersection_id()
        call_phases = client.call_phases()
        cabinet = client.cabinet() if bundle is not None else None
    except ControllerUnreachable as error:
        raise ControllerUnreachable(f"controller {address}: {error}") from None
    if bundle is None:
        return FieldLoop(address, tls, client, longest_queue(call_phases), None)
    if tls not in bundle.intersections:
        raise BundleError(f"controller {address} runs {tls!r}, which {bundle.root} has no controller for")
    try:
        decide, runtime = bundle_policy(bundle, tls, cabinet, deadline_s=deadline_s)
    except BundleError as error:
        raise BundleError(f"controller {address}: {error}") from None
    return FieldLoop(address, tls, client, decide, runtime)


def serve(
    loops: list[FieldLoop],
    *,
    poll_interval_s: float = 0.002,
    idle_timeout_s: float = 30.0,
    max_decisions: int | None = None,
) -> dict[str, str]:
    """Run every loop in a thread of its own (:func:`run_intersection`) until each stops; its report
    line by address (none for a loop whose thread died)."""
    reports: dict[str, str] = {}

    def serve_one(loop: FieldLoop) -> None:
        stats = run_intersection(
            loop.client,
            loop.decide,
            poll_interval_s=poll_interval_s,
            idle_timeout_s=idle_timeout_s,
            max_decisions=max_decisions,
        )
        loop.client.close()
        reports[loop.address] = loop.report(stats)

    threads = [threading.Thread(target=serve_one, args=(loop,), daemon=True) for loop in loops]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return reports
