"""One cell of a sweep: a controller, a perturbation at one severity level, one seed, one simulation.

A cell is a plain JSON-able dict (it travels to worker processes and Ray tasks and is stored in the
results file); :func:`run_cell` is what a worker executes. It goes through the single evaluation
path, ``ernie_traffic.evaluation.evaluate``, like every other user of a controller.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ernie_traffic.stress.plan import NETWORK, OBSERVATION_ATTACK

BASELINE = "baseline"


def cell_key(controller: str, family: str, level: float | str | None, seed: int) -> str:
    """The cell's identity in the results file: what a resumed sweep matches on."""
    return f"{controller}|{family}|{level}|{seed}"


def is_classical(controller: str) -> bool:
    """Classical controllers are named; learned ones are paths to run directories or exports."""
    from ernie_traffic.controllers.classical import CLASSICAL

    return controller in CLASSICAL


def build_controller(controller: str, network: str, work_dir: Path) -> Any:
    """A classical controller by name, or a learned one loaded from its run directory / export."""
    from ernie_traffic.controllers import load_controller
    from ernie_traffic.controllers.classical import classical_controller

    if is_classical(controller):
        return classical_controller(controller, network, work_dir=work_dir)
    return load_controller(Path(controller))


def env_config_for(cell: dict[str, Any]) -> Any:
    """The traffic environment config of a cell: its network, horizon and perturbation."""
    from ernie_traffic.envs.traffic import PerturbationConfig, TrafficEnvConfig

    perturbation = cell["perturbation"]
    perturbations = []
    if perturbation not in (None, NETWORK, OBSERVATION_ATTACK):
        perturbations.append(
            PerturbationConfig(name=perturbation, level=cell["level"], params=cell["params"])
        )
    fields: dict[str, Any] = {"network": cell["network"], "perturbations": perturbations}
    if cell["horizon"] is not None:
        fields["episode_seconds"] = cell["horizon"]
    return TrafficEnvConfig(**fields)


class AttackedController:
    """A learned controller whose observations pass through the core's PGD attack (radius ε) first."""

    def __init__(self, controller: Any, epsilon: float) -> None:
        self.inner = controller
        self.epsilon = epsilon
        self.name = f"{controller.name}+pgd{epsilon:g}"
        self.control = controller.control

    def reset(self, env: Any) -> None:
        self.inner.reset(env)

    def act(self, observations: dict[str, np.ndarray]) -> dict[str, int]:
        from ernie_traffic.core import observation_attack

        attacked = {
            agent: observation_attack(self.inner.policy_model(agent), obs, epsilon=self.epsilon)
            for agent, obs in observations.items()
        }
        return self.inner.act(attacked)


def run_cell(cell: dict[str, Any]) -> dict[str, float]:
    """Simulate one cell and return its metrics (see :data:`ernie_traffic.stress.plan.METRICS`)."""
    import torch

    from ernie_traffic.evaluation import evaluate

    torch.set_num_threads(1)  # cells run side by side, one per core
    with tempfile.TemporaryDirectory(prefix="ernie-stress-") as work_dir:  # e.g. a Webster program
        controller = build_controller(cell["controller"], cell["network"], Path(work_dir))
        if cell["perturbation"] == OBSERVATION_ATTACK:
            controller = AttackedController(controller, float(cell["level"]))
        metrics = evaluate(controller, env_config_for(cell), seeds=[cell["seed"]])
    return {name: float(value) for name, value in dict(metrics).items() if np.isscalar(value)}
