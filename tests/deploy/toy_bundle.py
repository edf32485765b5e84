"""A toy two-green intersection and bundles of small torch MLPs, exported for real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from ernie_deploy.bundle import Bundle
from ernie_deploy.features import ObservationLayout
from ernie_deploy.timing import TimingConfig

from ernie_traffic.export.manifest import intersection_entry, model_entry, write_manifest
from ernie_traffic.export.onnx_model import DEFAULT_OPSET, export_onnx

PHASES = ["GGrr", "yyrr", "rrGG", "rryy"]
DURATIONS = [30, 3, 20, 3]
GREEN_PHASES = [0, 2]
TIMING = TimingConfig(yellow_time=3, red_clearance=2, min_green=10, max_green=60)
LAYOUT = ObservationLayout(
    detector_ids=("in_0", "in_1"), detector_capacity=(10.0, 20.0), n_green_phases=2, max_green=60.0
)
OBS_SIZE = LAYOUT.size
N_GREENS = len(GREEN_PHASES)


def mlp(obs_size: int = OBS_SIZE, n_actions: int = N_GREENS, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(obs_size, 32), torch.nn.ReLU(), torch.nn.Linear(32, n_actions)
    ).eval()


def toy_intersection() -> dict[str, Any]:
    return intersection_entry(
        model="policy",
        layout=LAYOUT,
        phases=PHASES,
        phase_durations=DURATIONS,
        green_phases=GREEN_PHASES,
        timing=TIMING,
    )


def build_bundle(out: Path, module: torch.nn.Module) -> Bundle:
    export_onnx(module, OBS_SIZE, out / "policy.onnx")
    return write_manifest(
        out,
        network="toy",
        decision_interval_s=5.0,
        opset=DEFAULT_OPSET,
        models={"policy": model_entry("policy.onnx", OBS_SIZE, N_GREENS)},
        intersections={"J1": toy_intersection(), "J2": toy_intersection()},
        training={"algorithm": "test"},
    )
