"""An exported controller bundle as a controller (evaluate, stress tests): its ONNX policy, run by
``ernie_deploy.ControllerRuntime``, fed the observations the (perturbed) environment produces.

The environment's observations, not the runtime's own assembly from detector readings, are what
the policy sees, so sensor perturbations (noise, failed detectors) reach a bundle exactly as they
reach the run directory it was exported from; the environment's signal timer (the runtime's own
``SignalTimer``) enforces the environment's timing and phase table, never the manifest's, and a
bundle that does not fit them (``ernie_deploy.cabinet``) is refused. No torch is imported on this
path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from ernie_deploy.bundle import MANIFEST_NAME, Bundle, BundleError, load_bundle
from ernie_deploy.cabinet import Cabinet, check_fits
from ernie_deploy.runtime import ControllerRuntime

from ernie_traffic.errors import UserInputError


def is_bundle(controller: str) -> bool:
    """A controller argument naming a folder with a bundle manifest (``ernie-traffic export``)."""
    return (Path(controller) / MANIFEST_NAME).is_file()


class BundleController:
    """Greedy decisions of an exported bundle's ONNX models. An intersection whose model gives
    NaN/inf scores follows its fixed-time fallback plan for that decision, as in the field."""

    control = "agents"
    additional_files: tuple[str, ...] = ()

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.runtime = ControllerRuntime(bundle)
        self.name = f"{bundle.training.get('algo', 'bundle')} ({bundle.root.name})"
        self.outputs = str(bundle.training.get("outputs", "q_values"))
        self.agents = tuple(bundle.intersections)
        self._env: Any = None

    @property
    def observation_spec(self) -> dict[str, dict[str, int]]:
        """Per intersection: observation length and number of actions (green phases)."""
        return {
            agent: {"obs_dim": spec.layout.size, "n_actions": len(spec.green_phases)}
            for agent, spec in self.bundle.intersections.items()
        }

    def misfit(self, cabinet: Cabinet) -> str | None:
        """Why the bundle may not drive signals configured as ``cabinet``, or None."""
        try:
            check_fits(self.bundle, cabinet)
        except BundleError as exc:
            return str(exc)
        return None

    def reset(self, env: Any) -> None:
        if tuple(env.possible_agents) != self.agents:
            raise UserInputError(
                f"bundle {self.bundle.root}: exported for intersections {list(self.agents)}, "
                f"the environment has {list(env.possible_agents)}"
            )
        problem = self.misfit(env.cabinet)
        if problem:
            raise UserInputError(problem)
        # The environment's observations must be the ones the bundle was exported for: the same
        # detectors (ids, lengths: capacities) and max green, read at the same decision interval.
        if env.config.decision_interval != self.bundle.decision_interval_s:
            raise UserInputError(
                f"bundle {self.bundle.root}: decides every {self.bundle.decision_interval_s:g} s, "
                f"the environment every {env.config.decision_interval:g} s"
            )
        for agent, spec in self.bundle.intersections.items():
            if env.layouts[agent] != spec.layout:
                raise UserInputError(
                    f"bundle {self.bundle.root}: intersection {agent}'s detectors or max green differ "
                    f"from the environment's (a bundle exported with another detector_length?)"
                )
        self.runtime.reset()
        self._env = env

    def act(self, observations: dict[str, np.ndarray]) -> dict[str, int]:
        greens, problems = self.runtime.choose(observations)
        if problems:
            elapsed = self._env.decision_count * self._env.config.decision_interval
            for agent in problems:
                greens[agent] = self.runtime.plans[agent].green_at(elapsed)
        return greens

    def scores(self, agent: str, observation: np.ndarray) -> np.ndarray:
        """The model's scores of ``agent``'s green phases for one observation."""
        spec = self.bundle.intersections[agent]
        policy = self.runtime.policies[spec.model]
        row = np.zeros((1, policy.spec.input_size), dtype=np.float32)
        row[0, : spec.layout.size] = observation
        if spec.model_input is not None:
            row[0, spec.model_input.id_column] = 1.0
        return policy.scores(row)[0, : len(spec.green_phases)]


def load_bundle_controller(path: str | Path) -> BundleController:
    """The controller of the bundle in folder ``path``; a broken bundle is a :class:`UserInputError`."""
    try:
        return BundleController(load_bundle(path))
    except BundleError as exc:
        raise UserInputError(str(exc)) from exc
