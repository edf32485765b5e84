"""Per-decision latency of the controller runtime against the same policy in PyTorch, same run.

A decision is observation assembly (``ernie_deploy.features``) + inference + the shield request
(``ernie_deploy.timing``), for one intersection and for the 16 intersections of a grid4x4-sized
network (4 greens and 12 detectors each, one 30-128-128-4 MLP per intersection, as an exported
run has one model per intersection). Both paths run the same steps; only inference differs:
onnxruntime through ``ControllerRuntime.decide`` versus torch modules in eager mode.

    PYTHONPATH=$PWD:$PWD/deploy python benchmarks/runtime_latency.py --decisions 3000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ernie_deploy.features import ObservationLayout, build_observation
from ernie_deploy.runtime import ControllerRuntime
from ernie_deploy.timing import SignalTimer, TimingConfig

from ernie_traffic.export.manifest import intersection_entry, model_entry, write_manifest
from ernie_traffic.export.onnx_model import DEFAULT_OPSET, export_onnx

N_DETECTORS = 12
GREENS = ["GGGgrrrrGGGgrrrr"[i:] + "GGGgrrrrGGGgrrrr"[:i] for i in (0, 4, 8, 12)]
PHASES = [state for green in GREENS for state in (green, green.replace("G", "y").replace("g", "y"))]
TIMING = TimingConfig(yellow_time=3, red_clearance=2, min_green=5, max_green=60)


def layout() -> ObservationLayout:
    ids = tuple(f"e2_{i}" for i in range(N_DETECTORS))
    return ObservationLayout(
        ids, (20.0,) * N_DETECTORS, n_green_phases=len(GREENS), max_green=TIMING.max_green
    )


def policy(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    size = layout().size
    return torch.nn.Sequential(
        torch.nn.Linear(size, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, len(GREENS)),
    ).eval()


def make_bundle(out: Path, modules: dict[str, torch.nn.Module]):
    size = layout().size
    for tls, module in modules.items():
        export_onnx(module, size, out / f"policy_{tls}.onnx")
    return write_manifest(
        out,
        network="grid4x4-sized benchmark",
        decision_interval_s=5.0,
        opset=DEFAULT_OPSET,
        models={f"policy_{tls}": model_entry(f"policy_{tls}.onnx", size, len(GREENS)) for tls in modules},
        intersections={
            tls: intersection_entry(
                model=f"policy_{tls}",
                layout=layout(),
                phases=PHASES,
                phase_durations=[30, 3] * len(GREENS),
                green_phases=list(range(0, len(PHASES), 2)),
                timing=TIMING,
            )
            for tls in modules
        },
        training={"note": "random weights, latency benchmark"},
    )


def readings_stream(tls_ids: list[str], n: int, seed: int) -> list[dict[str, tuple[np.ndarray, np.ndarray]]]:
    rng = np.random.default_rng(seed)
    return [
        {tls: (rng.integers(0, 25, N_DETECTORS), rng.integers(0, 20, N_DETECTORS)) for tls in tls_ids}
        for _ in range(n)
    ]


class TorchController:
    """The same decision in PyTorch: assemble, score with the torch module, request from the timer."""

    def __init__(self, modules: dict[str, torch.nn.Module], tls_ids: list[str]) -> None:
        self.modules, self.layout = modules, layout()
        self.timers = {tls: SignalTimer(GREENS, TIMING) for tls in tls_ids}

    def decide(self, readings: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        with torch.inference_mode():
            for tls, timer in self.timers.items():
                counts, queues = readings[tls]
                obs = build_observation(
                    self.layout, counts, queues, timer.green, timer.in_transition, timer.time_in_stage
                )
                scores = self.modules[tls](torch.from_numpy(obs)[None])[0]
                timer.request(int(scores.argmax()))

    def advance(self, seconds: float) -> None:
        for timer in self.timers.values():
            timer.advance(seconds)


def time_decisions(bundle, modules, tls_ids, stream) -> tuple[np.ndarray, np.ndarray]:
    """Latencies of both paths, interleaved decision by decision so machine load hits both alike."""
    runtime = ControllerRuntime(bundle, intersections=tls_ids, deadline_s=1.0)
    reference = TorchController(modules, tls_ids)
    torch_samples = []
    for readings in stream:
        runtime.decide(readings)
        start = time.perf_counter()
        reference.decide(readings)
        torch_samples.append(time.perf_counter() - start)
        runtime.advance(5.0)
        reference.advance(5.0)
    assert runtime.fallbacks.total() == 0, runtime.fallbacks
    return np.asarray(runtime.latency.samples), np.asarray(torch_samples)


def time_inference_only(bundle, modules, n: int) -> tuple[float, float]:
    """Median µs of one model call alone (batch 1), onnxruntime and torch, interleaved."""
    runtime = ControllerRuntime(bundle, intersections=["J0"])
    policy, module = next(iter(runtime.policies.values())), modules["J0"]
    obs = np.random.default_rng(0).random((1, layout().size), dtype=np.float32)
    onnx_s, torch_s = [], []
    with torch.inference_mode():
        for _ in range(n):
            start = time.perf_counter()
            policy.scores(obs)
            middle = time.perf_counter()
            module(torch.from_numpy(obs))
            torch_s.append(time.perf_counter() - middle)
            onnx_s.append(middle - start)
    return float(np.median(onnx_s) * 1e6), float(np.median(torch_s) * 1e6)


def summary(samples: np.ndarray) -> tuple[float, float]:
    ms = samples[len(samples) // 10 :] * 1e3  # the first tenth warms caches up
    return float(np.median(ms)), float(np.percentile(ms, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=3000, help="decisions timed per case")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tls_ids = [f"J{i}" for i in range(16)]
    modules = {tls: policy(seed) for seed, tls in enumerate(tls_ids)}
    with tempfile.TemporaryDirectory() as tmp:
        bundle = make_bundle(Path(tmp), modules)
        onnx_us, torch_us = time_inference_only(bundle, modules, args.decisions)
        print(
            f"inference alone, batch 1: onnxruntime {onnx_us:.1f} µs, torch {torch_us:.1f} µs "
            f"({torch_us / onnx_us:.1f}x)"
        )
        print(
            f"{'decision (assembly + inference + shield)':<42}{'median':>9}{'p99':>9}{'p99/intersection':>18}"
        )
        for label, ids in (("1 intersection", tls_ids[:1]), ("16 intersections", tls_ids)):
            onnx_samples, torch_samples = time_decisions(
                bundle, modules, ids, readings_stream(ids, args.decisions, 0)
            )
            for name, samples in (("onnx runtime", onnx_samples), ("pytorch", torch_samples)):
                median, p99 = summary(samples)
                print(f"  {label + ', ' + name:<40}{median:>7.3f}ms{p99:>7.3f}ms{p99 / len(ids):>16.3f}ms")
            speedup = summary(torch_samples)[0] / summary(onnx_samples)[0]
            print(f"  {label}: onnx runtime is {speedup:.1f}x faster than pytorch (medians)")


if __name__ == "__main__":
    main()
