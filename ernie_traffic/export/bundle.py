"""A controller bundle from torch policies and the traffic environment they were trained in.

``export_bundle`` writes one ONNX model per intersection (each intersection's policy is its own
module: a shared network with that intersection's id baked in), checks every model's parity
with its torch module on recorded and random observations, and writes the manifest from the
environment's own phase tables, observation layouts and timing, so the runtime computes and
enforces exactly what training did.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ernie_deploy.bundle import Bundle

from ernie_traffic.envs.traffic import TrafficSignalEnv
from ernie_traffic.export.manifest import intersection_entry, model_entry, write_manifest
from ernie_traffic.export.onnx_model import (
    DEFAULT_OPSET,
    ParityReport,
    check_parity,
    export_onnx,
    simplify_onnx,
)


class ExportError(RuntimeError):
    """The exported models do not reproduce the torch policy; nothing usable was written."""


@dataclass(frozen=True)
class ExportResult:
    bundle: Bundle
    parity: list[ParityReport]


def record_observations(
    env: TrafficSignalEnv, act: Callable[[dict[str, np.ndarray]], dict[str, int]], steps: int, seed: int
) -> dict[str, np.ndarray]:
    """Each intersection's observations over ``steps`` decisions of one episode driven by ``act``."""
    observations, _ = env.reset(seed=seed)
    recorded: dict[str, list[np.ndarray]] = {agent: [] for agent in env.possible_agents}
    for _ in range(steps):
        for agent, obs in observations.items():
            recorded[agent].append(obs)
        if not env.agents:
            break
        observations, _, _, _, _ = env.step(act(observations))
    return {agent: np.stack(rows) for agent, rows in recorded.items()}


def model_name(agent: str) -> str:
    return f"policy_{agent}"


def export_bundle(
    env: TrafficSignalEnv,
    modules: Mapping[str, torch.nn.Module],
    out_dir: str | os.PathLike[str],
    *,
    recorded: Mapping[str, np.ndarray],
    training: Mapping[str, Any],
    opset: int = DEFAULT_OPSET,
    simplify: bool = False,
    n_random: int = 2000,
    seed: int = 0,
) -> ExportResult:
    """Export ``modules`` (intersection id -> torch policy) of ``env``'s network to ``out_dir``.

    Raises :class:`ExportError` if any model fails parity (max abs difference above 1e-5 or a
    different greedy choice on any of its recorded + ``n_random`` random observations).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    reports = []
    for agent in env.possible_agents:
        layout, tls = env.layouts[agent], env.intersections[agent]
        path = export_onnx(modules[agent], layout.size, out_dir / f"{model_name(agent)}.onnx", opset)
        if simplify:
            simplify_onnx(path)
        report = check_parity(
            modules[agent], path, recorded[agent], tls.n_actions, n_random=n_random, seed=seed, name=agent
        )
        reports.append(report)
        if not report.ok:
            raise ExportError(report.line())
    bundle = write_manifest(
        out_dir,
        network=env.scenario.name,
        decision_interval_s=env.config.decision_interval,
        opset=opset,
        models={
            model_name(agent): model_entry(
                f"{model_name(agent)}.onnx", env.layouts[agent].size, env.intersections[agent].n_actions
            )
            for agent in env.possible_agents
        },
        intersections={
            agent: intersection_entry(
                model=model_name(agent),
                layout=env.layouts[agent],
                phases=tls.phases,
                phase_durations=tls.phase_durations,
                green_phases=tls.green_phases,
                timing=env.timing,
            )
            for agent, tls in env.intersections.items()
        },
        training=training,
    )
    return ExportResult(bundle=bundle, parity=reports)
