"""One cell of a sweep: a controller, a perturbation at one severity level, one seed, one simulation.

A cell is a frozen :class:`TrafficCell` of JSON-able fields (it travels to worker processes and Ray
tasks; its fields open its record in the results file); :func:`run_cell` is what a worker executes,
through the single evaluation path, ``ernie_traffic.evaluation.run_episode``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ernie_traffic.controllers.resolve import is_run, resolve_controller
from ernie_traffic.stress.adversaries import (
    WithAdversary,
    global_q_adversary,
    load_global_q,
    lowest_score_adversary,
)
from ernie_traffic.stress.plan import BASELINE, METRICS, OBSERVATION_ATTACK, RUNNER_KINDS, TURNING_MIX

LIPSCHITZ_SAMPLES = 64  # observations per intersection fed to the Lipschitz estimate


@dataclass(frozen=True)
class StressCell:
    """A controller at one family level (the baseline: perturbation and level None), one seed."""

    key: str
    controller: str
    family: str
    perturbation: str | None
    level: float | str | None
    seed: int
    lipschitz_epsilon: float


@dataclass(frozen=True)
class TrafficCell(StressCell):
    """On ``network``: the sweep's, or a ``network`` family's level."""

    params: dict[str, Any]
    scale: str | None
    adversary: str | None
    network: str
    horizon: float | None
    traffic: dict[str, Any]


def cell_key(controller: str, family: str, level: float | str | None, seed: int) -> str:
    """The cell's identity in the results file: what a resumed sweep matches on."""
    return f"{controller}|{family}|{level}|{seed}"


def perturbation_fields(name: str, scale: str, level: float, params: dict[str, Any]) -> dict[str, Any]:
    """The env's ``PerturbationConfig`` fields of a level; a value-scale level is already in ``params``
    (where it overrides whatever the severity would give), so the severity passed is nominal."""
    return {"name": name, "level": level if scale == "severity" else 1.0, "params": params}


def env_config_for(cell: TrafficCell, work_dir: Path) -> Any:
    """The traffic environment config of a cell: its network and demand, horizon and perturbation."""
    from ernie_traffic.envs.traffic import PerturbationConfig, TrafficEnvConfig

    perturbation = cell.perturbation
    fields: dict[str, Any] = {**cell.traffic, "network": cell.network, "perturbations": []}
    if perturbation == TURNING_MIX:
        from ernie_traffic.scenarios import resolve_scenario
        from ernie_traffic.scenarios.variants import turning_mix_variant

        scenario = resolve_scenario(cell.network)
        weights = {cell.params.get("turn", "left"): float(cell.level)}
        variant = turning_mix_variant(
            scenario, work_dir, weights, seed=cell.seed, name=f"{scenario.name}_turns"
        )
        fields.update(network=str(variant.net_file), route_files=list(variant.route_files))
    elif perturbation not in (None, *RUNNER_KINDS):
        config = perturbation_fields(perturbation, cell.scale, cell.level, cell.params)
        fields["perturbations"] = [PerturbationConfig(**config)]
    if cell.horizon is not None:
        fields["episode_seconds"] = cell.horizon
    return TrafficEnvConfig(**fields)


class StressedLearnedController:
    """A learned controller as the stress test drives it.

    - ``attack_epsilon`` > 0: each observation first goes through the core's PGD attack (ℓ∞ ball of
      radius ε) that moves the controller's action scores most;
    - records the clean observations it sees, for the empirical Lipschitz constant.
    """

    def __init__(self, inner: Any, attack_epsilon: float = 0.0) -> None:
        self.inner = inner
        self.name = inner.name
        self.control = inner.control
        self.additional_files = inner.additional_files
        self.attack_epsilon = attack_epsilon
        self.agents = tuple(inner.spec.agents)
        self.modules = inner.policy_modules
        self.seen: dict[str, list[np.ndarray]] = {agent: [] for agent in self.modules}
        # built once, not per decision: per row, the observation features the attack may move
        self.attack_mask = inner.spec.perturb_mask(1) if attack_epsilon > 0 else None

    def reset(self, env: Any) -> None:
        self.inner.reset(env)

    def act(self, observations: dict[str, np.ndarray]) -> dict[str, int]:
        for agent, obs in observations.items():
            self.seen[agent].append(np.asarray(obs, dtype=np.float32).copy())
        if self.attack_epsilon > 0:
            observations = self.attacked(observations)
        return self.inner.act(observations)

    def scores(self, agent: str, obs: np.ndarray) -> np.ndarray:
        """The policy's scores of ``agent``'s actions for one clean observation."""
        import torch

        with torch.no_grad():
            return self.modules[agent](torch.as_tensor(obs, dtype=torch.float32)[None])[0].numpy()

    def attacked(self, observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every intersection's observation moved by the core's attack, all intersections in one call.

        The attack runs on the shared network's input rows (observation padded, intersection one-hot),
        one ε-ball per row over the row's real observation features, so each intersection is attacked
        in its own ball exactly as its policy module alone would be, at the cost of one PGD instead
        of one per intersection."""
        import torch

        from ernie_traffic.core import observation_attack

        spec = self.inner.spec
        present = [i for i, agent in enumerate(self.agents) if agent in observations]
        padded = torch.zeros(1, spec.n_agents, spec.max_obs)
        for i in present:
            obs = observations[self.agents[i]]
            padded[0, i, : len(obs)] = torch.as_tensor(obs, dtype=torch.float32)
        rows = spec.agent_rows(padded)[present]
        divergence = "kl" if self.inner.outputs == "logits" else "l2"
        moved = observation_attack(
            self.inner.net,
            rows,
            epsilon=self.attack_epsilon,
            perturb_mask=self.attack_mask[present],
            divergence=divergence,
        ).numpy()
        return {self.agents[i]: moved[row, : spec.obs_dims[i]] for row, i in enumerate(present)}

    def lipschitz(self, epsilon: float) -> float:
        """Mean over intersections and sampled states of the core's empirical local Lipschitz constant."""
        return mean_lipschitz([(self.modules[agent], seen) for agent, seen in self.seen.items()], epsilon)


def mean_lipschitz(observed: list[tuple[Any, list[np.ndarray]]], epsilon: float) -> float:
    """The core's empirical local Lipschitz constant of each ``(policy module, observations it saw)``
    pair, on up to :data:`LIPSCHITZ_SAMPLES` of its observations, averaged over the pairs."""
    import torch

    from ernie_traffic.core import empirical_lipschitz

    rng = np.random.default_rng(0)
    estimates = []
    for module, seen in observed:
        if not seen:
            continue
        picks = rng.choice(len(seen), size=min(LIPSCHITZ_SAMPLES, len(seen)), replace=False)
        obs = torch.as_tensor(np.stack([seen[i] for i in picks]))
        estimates.append(empirical_lipschitz(module, obs, epsilon=epsilon).mean)
    return float(np.mean(estimates))


def run_cell(cell: TrafficCell) -> dict[str, float]:
    """Simulate one cell and return its metrics (see :data:`ernie_traffic.stress.plan.METRICS`);
    an unperturbed learned controller's cell also measures its empirical Lipschitz constant."""
    from ernie_traffic.evaluation import run_episode

    # Files a cell writes (a Webster program, a demand variant) live and die with it.
    with tempfile.TemporaryDirectory(prefix="ernie-stress-") as work_dir:
        controller = resolve_controller(cell.controller, cell.network, work_dir=work_dir)
        if is_run(cell.controller):
            import torch

            # The attack's PGD restarts draw from torch's global generator: seed it so that a cell
            # gives the same numbers whenever and wherever it runs.
            torch.manual_seed(cell.seed)
            controller = StressedLearnedController(
                controller,
                attack_epsilon=float(cell.level) if cell.perturbation == OBSERVATION_ATTACK else 0.0,
            )
        driven = controller
        if cell.adversary == "min_q":
            driven = with_min_q_adversary(controller, cell.controller)
        episode = run_episode(driven, env_config_for(cell, Path(work_dir)), seed=cell.seed)
    # The evaluation path calls the return "return"; the report, "episode_return".
    metrics = {metric: float(episode[metric.removeprefix("episode_")]) for metric in METRICS}
    if cell.family == BASELINE and isinstance(controller, StressedLearnedController):
        metrics["lipschitz"] = controller.lipschitz(cell.lipschitz_epsilon)
    return metrics


def with_min_q_adversary(controller: Any, source: str) -> WithAdversary:
    """``controller`` (a learned one, from run directory or bundle ``source``) whose malicious agents
    follow ERNIE-A's threat model where the run holds a global Q, else its lowest-score fallback
    (see :mod:`ernie_traffic.stress.adversaries`)."""
    global_q = load_global_q(source) if is_run(source) else None
    agents = controller.agents
    if global_q is not None:
        return WithAdversary(controller, lambda env: global_q_adversary(global_q, agents, env))
    return WithAdversary(controller, lambda env: lowest_score_adversary(controller.scores, agents, env))
