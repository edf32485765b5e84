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


def time_onnx(bundle, tls_ids, stream) -> np.ndarray:
    runtime = ControllerRuntime(bundle, intersections=tls_ids, deadline_s=1.0)
    for readings in stream:
        runtime.decide(readings)
        runtime.advance(5.0)
    assert runtime.fallbacks.total() == 0, runtime.fallbacks
    return np.asarray(runtime.latency.samples)


def time_torch(modules, tls_ids, stream) -> np.ndarray:
    """The same decision in PyTorch: assemble, score with the torch module, request from the timer."""
    obs_layout = layout()
    timers = {tls: SignalTimer(GREENS, TIMING) for tls in tls_ids}
    samples = []
    with torch.inference_mode():
        for readings in stream:
            start = time.perf_counter()
            for tls in tls_ids:
                timer = timers[tls]
                counts, queues = readings[tls]
                obs = build_observation(
                    obs_layout, counts, queues, timer.green, timer.in_transition, timer.time_in_stage
                )
                scores = modules[tls](torch.from_numpy(obs)[None])[0]
                timer.request(int(scores.argmax()))
            samples.append(time.perf_counter() - start)
            for timer in timers.values():
                timer.advance(5.0)
    return np.asarray(samples)


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
        print(
            f"{'case':<22}{'onnx median':>12}{'onnx p99':>10}{'torch median':>14}{'torch p99':>11}"
            f"{'p99/intersection':>18}{'speed-up (median)':>19}"
        )
        for label, ids in (("1 intersection", tls_ids[:1]), ("16 intersections", tls_ids)):
            stream = readings_stream(ids, args.decisions, seed=0)
            onnx_median, onnx_p99 = summary(time_onnx(bundle, ids, stream))
            torch_median, torch_p99 = summary(time_torch(modules, ids, stream))
            print(
                f"{label:<22}{onnx_median:>10.3f}ms{onnx_p99:>8.3f}ms{torch_median:>12.3f}ms{torch_p99:>9.3f}ms"
                f"{onnx_p99 / len(ids):>16.3f}ms{torch_median / onnx_median:>18.1f}x"
            )


if __name__ == "__main__":
    main()
