"""A controller bundle from torch policies and the traffic environment they were trained in.

``export_bundle`` writes the ONNX models (one per intersection, or one shared by all with an
intersection one-hot in its input), checks parity with torch for every intersection on recorded
and random observations, and writes the manifest from the environment's own phase tables,
observation layouts and timing, so the runtime computes and enforces exactly what training did.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ernie_deploy.bundle import Bundle, ModelInput

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
    signed_by: str | None = None  # fingerprint of the key that signed the manifest, if one did


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


@dataclass(frozen=True)
class SharedPolicy:
    """One network for every intersection (as the learners' ``SharedAgentNet``): its input row is
    the observation zero-padded to ``pad_to`` features, then the one-hot of the intersection's
    position in ``agents``; its output has ``n_outputs`` scores, the first ``n_greens`` of which
    belong to the intersection. Exported as one model the runtime calls once for all intersections."""

    module: torch.nn.Module
    agents: tuple[str, ...]
    pad_to: int
    n_outputs: int

    def model_input(self, agent: str) -> ModelInput:
        return ModelInput(pad_to=self.pad_to, index=self.agents.index(agent), count=len(self.agents))


def input_rows(observations: np.ndarray, model_input: ModelInput | None) -> np.ndarray:
    """Model input rows for one intersection's observations (as the runtime builds them)."""
    if model_input is None:
        return observations
    rows = np.zeros((len(observations), model_input.width), dtype=np.float32)
    rows[:, : observations.shape[1]] = observations
    rows[:, model_input.id_column] = 1.0
    return rows


@dataclass(frozen=True)
class _ModelPlan:
    module: torch.nn.Module
    width: int
    n_outputs: int


def _plan(
    env: TrafficSignalEnv, policy: Mapping[str, torch.nn.Module] | SharedPolicy
) -> tuple[dict[str, _ModelPlan], dict[str, tuple[str, ModelInput | None]]]:
    """Which models to write, and each intersection's model and input recipe."""
    if isinstance(policy, SharedPolicy):
        width = policy.pad_to + len(policy.agents)
        models = {"policy": _ModelPlan(policy.module, width, policy.n_outputs)}
        return models, {agent: ("policy", policy.model_input(agent)) for agent in env.possible_agents}
    models = {
        f"policy_{agent}": _ModelPlan(
            policy[agent], env.layouts[agent].size, env.intersections[agent].n_actions
        )
        for agent in env.possible_agents
    }
    return models, {agent: (f"policy_{agent}", None) for agent in env.possible_agents}


def export_bundle(
    env: TrafficSignalEnv,
    policy: Mapping[str, torch.nn.Module] | SharedPolicy,
    out_dir: str | os.PathLike[str],
    *,
    recorded: Mapping[str, np.ndarray],
    training: Mapping[str, Any],
    opset: int = DEFAULT_OPSET,
    simplify: bool = False,
    n_random: int = 2000,
    seed: int = 0,
) -> ExportResult:
    """Export ``policy`` for ``env``'s network to ``out_dir``: either one torch module per
    intersection id (one ONNX file each) or a :class:`SharedPolicy` (one ONNX file).

    Parity is checked per intersection on its ``recorded`` observations plus ``n_random`` random
    ones; raises :class:`ExportError` (before any manifest is written) if the max abs difference
    exceeds 1e-5 or any greedy choice differs.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    models, assignment = _plan(env, policy)
    for name, plan in models.items():
        path = export_onnx(plan.module, plan.width, out_dir / f"{name}.onnx", opset)
        if simplify:
            simplify_onnx(path)
    reports = []
    for agent, (name, model_input) in assignment.items():
        rows = input_rows(recorded[agent], model_input)
        n_greens = env.intersections[agent].n_actions
        report = check_parity(
            models[name].module,
            out_dir / f"{name}.onnx",
            rows,
            n_greens,
            n_random=n_random,
            seed=seed,
            name=agent,
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
            name: model_entry(f"{name}.onnx", plan.width, plan.n_outputs) for name, plan in models.items()
        },
        intersections={
            agent: intersection_entry(
                model=name,
                layout=env.layouts[agent],
                phases=env.intersections[agent].phases,
                phase_durations=env.intersections[agent].phase_durations,
                green_phases=env.intersections[agent].green_phases,
                timing=env.timing,
                model_input=model_input,
            )
            for agent, (name, model_input) in assignment.items()
        },
        training=training,
    )
    return ExportResult(bundle=bundle, parity=reports)
