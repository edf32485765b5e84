"""Bundles built from small torch MLPs, exported for real, for the runtime and bundle tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from ernie_deploy.bundle import Bundle

from ernie_traffic.export.manifest import model_entry, write_manifest
from ernie_traffic.export.onnx_model import DEFAULT_OPSET, export_onnx

OBS_SIZE = 9
N_GREENS = 2
PHASES = ["GGrr", "yyrr", "rrGG", "rryy"]


def mlp(obs_size: int = OBS_SIZE, n_actions: int = N_GREENS, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(obs_size, 32), torch.nn.ReLU(), torch.nn.Linear(32, n_actions)
    ).eval()


def intersection_entry(obs_size: int = OBS_SIZE) -> dict[str, Any]:
    return {
        "model": "policy",
        "observation": {
            "size": obs_size,
            "features": [{"name": f"f{i}", "source": f"det{i}", "scale": 1.0} for i in range(obs_size)],
        },
        "phases": PHASES,
        "green_phases": [0, 2],
        "timing": {"min_green_s": 10, "max_green_s": 60, "yellow_s": 3, "red_clearance_s": 2},
        "fallback_plan": [{"green": 0, "duration_s": 30}, {"green": 1, "duration_s": 20}],
    }


def build_bundle(
    out: Path, module: torch.nn.Module, obs_size: int = OBS_SIZE, n_actions: int = N_GREENS
) -> Bundle:
    export_onnx(module, obs_size, out / "policy.onnx")
    return write_manifest(
        out,
        network="toy",
        decision_interval_s=5.0,
        opset=DEFAULT_OPSET,
        models={"policy": model_entry("policy.onnx", obs_size, n_actions)},
        intersections={"J1": intersection_entry(obs_size), "J2": intersection_entry(obs_size)},
        training={"algorithm": "test"},
    )


@pytest.fixture
def make_bundle(tmp_path: Path) -> Callable[..., Bundle]:
    def make(module: torch.nn.Module | None = None, name: str = "bundle") -> Bundle:
        return build_bundle(tmp_path / name, module if module is not None else mlp())

    return make
