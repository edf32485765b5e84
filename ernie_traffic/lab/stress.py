"""The lab's cells of a stress sweep: trained particle / mean-field / drone runs, and a random-policy
reference, under observation noise and the core's observation attack.

A lab sweep is a :class:`~ernie_traffic.stress.sweep.Sweep` with ``domain: lab``: the stress test's
runner streams its cells to ``results.jsonl`` (resumable), and its report renders them
(``ernie-traffic lab stress``). Only the cells differ from traffic ones: a cell evaluates one run on
``plan.episodes`` episodes of the lab env through :func:`ernie_traffic.lab.evaluate.episode_returns`.

A controller is a run directory, ``LABEL=RUN_DIR,RUN_DIR,...`` (several runs pooled under one label,
e.g. one learner's training seeds: its seed band then spans runs and evaluation seeds), or
``random`` (uniformly random actions: the floor every learner must beat).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from ernie_traffic.errors import UserInputError
from ernie_traffic.stress.cells import StressCell, cell_key, mean_lipschitz
from ernie_traffic.stress.plan import BASELINE, OBSERVATION_ATTACK, Family, StressPlan
from ernie_traffic.stress.sweep import DOMAINS, Domain, Sweep

RANDOM = "random"
OBSERVATION_NOISE = "observation_noise"
LAB_PERTURBATIONS = (OBSERVATION_NOISE, OBSERVATION_ATTACK)


@dataclass(frozen=True)
class LabCell(StressCell):
    """One run of the controller (None: the random policy), ``episodes`` episodes in the sweep's env."""

    run: str | None
    episodes: int
    env: dict[str, Any]


def controller_runs(controller: str) -> list[str]:
    """The run directories a lab controller names (none for ``random``)."""
    if controller == RANDOM:
        return []
    _, pooled, runs = controller.partition("=")
    return [run for run in runs.split(",") if run] if pooled else [controller]


def controller_label(controller: str) -> str:
    """A lab controller's name in the report: the label of pooled runs, else the controller itself."""
    return controller.partition("=")[0]


def evaluation_env(fields: dict[str, Any]) -> Any:
    """The typed env config of a lab sweep's ``env`` mapping (its ``family`` names the env model)."""
    from ernie_traffic.envs.drones import DroneEnvConfig
    from ernie_traffic.envs.particle import ParticleEnvConfig

    fields = dict(fields)
    model = DroneEnvConfig if fields.pop("family") == "drones" else ParticleEnvConfig
    return model.model_validate(fields)


def env_label(family: str, env: Any) -> str:
    """The environment's name in the report title, e.g. ``particle simple_spread N=3``."""
    if family == "drones":
        return f"drones hover N={env.n_drones}"
    size = f" N={env.n_agents}" if env.task == "simple_spread" else ""
    return f"{family} {env.task}{size}"


def lab_sweep(
    controllers: list[str],
    noise: list[float],
    attack: list[float],
    seeds: list[int],
    episodes: int,
    env_updates: dict[str, Any] | None = None,
    random_reference: bool = True,
) -> Sweep:
    """The sweep of ``controllers`` in the env of their first run (with ``env_updates``, no training
    noise): an ``observation_noise`` family at the σ levels ``noise`` and an ``observation_attack``
    family at the ℓ2 radii ``attack`` (level 0 is the unperturbed baseline every controller gets)."""
    from ernie_traffic.lab.config import LabRunConfig, changed_env
    from ernie_traffic.runs import RunDirectory
    from ernie_traffic.utils.config_files import load_config

    runs = [run for c in controllers for run in controller_runs(c)]
    if not runs:
        raise UserInputError("lab stress: name at least one trained run directory")
    first = RunDirectory(runs[0])
    if not first.config.is_file():
        raise UserInputError(f"{first.path}: not a lab run directory (no {first.config.name})")
    config = load_config(LabRunConfig, first.config)
    env = changed_env(config.env, {**(env_updates or {}), "observation_noise": 0.0})
    families = [
        Family(name=kind, perturbation=kind, levels=positive, scale="value", nominal=0)
        for kind, levels in ((OBSERVATION_NOISE, noise), (OBSERVATION_ATTACK, attack))
        if (positive := sorted(level for level in set(levels) if level > 0))
    ]
    if not families:
        raise UserInputError("lab stress: give at least one noise level or attack radius above 0")
    try:
        return Sweep(
            domain="lab",
            network=env_label(config.family, env),
            controllers=[*controllers, RANDOM]
            if random_reference and RANDOM not in controllers
            else controllers,
            plan=StressPlan(seeds=seeds, metric="episode_return", episodes=episodes, families=families),
            env={"family": config.family, **env.model_dump(mode="json")},
        )
    except ValidationError as exc:
        raise UserInputError(f"lab stress: {exc.errors()[0]['msg']}") from exc


def lab_sweep_problems(sweep: Sweep) -> list[str]:
    """Every problem of a lab sweep: families the lab does not sweep, bad levels, a bad env, missing or
    unreadable runs, runs whose agents do not fit the env."""
    from ernie_traffic.lab.envs import agent_dims

    problems = []
    for family in sweep.plan.families:
        if family.perturbation not in LAB_PERTURBATIONS:
            problems.append(
                f"family {family.name!r}: lab sweeps take {' or '.join(LAB_PERTURBATIONS)}, "
                f"not {family.perturbation!r}"
            )
        problems += [
            f"family {family.name!r}: level {level!r} must be a number > 0"
            for level in family.levels
            if isinstance(level, str) or level <= 0
        ]
    try:
        env = evaluation_env(sweep.env or {})
    except (ValidationError, KeyError) as exc:
        return [*problems, f"lab sweep env {sweep.env}: {exc}"]
    labels = [controller_label(c) for c in sweep.controllers]
    if repeated := sorted({label for label in labels if labels.count(label) > 1}):
        problems.append(f"controller labels must be distinct: {', '.join(repeated)} repeated")
    expected = agent_dims(env)
    for controller in sweep.controllers:
        if controller != RANDOM and not controller_runs(controller):
            problems.append(f"{controller}: no run directories after '='")
        for run in controller_runs(controller):
            problems += [f"{run}: {p}" for p in _run_problems(run, expected)]
    return problems


def _run_problems(run: str, expected: tuple[list[int], list[int]]) -> list[str]:
    """Why ``run`` cannot be evaluated in an env with ``expected`` observation and action sizes."""
    from ernie_traffic.lab.envs import agent_dims
    from ernie_traffic.lab.train import load_learner

    try:
        config, _ = load_learner(run)  # reads the checkpoint now, not in the first cell
    except UserInputError as exc:
        return [str(exc).removeprefix(f"{run}: ")]
    except (ValidationError, OSError) as exc:
        return [f"not a lab run directory: {exc}"]
    trained = agent_dims(config.env)
    if trained != expected:
        return [
            f"trained with observation/action sizes {trained}, the sweep's env has {expected} "
            "(same task and agents needed)"
        ]
    return []


def expand_lab_cells(sweep: Sweep) -> list[LabCell]:
    """Every (controller, run, family, level, seed) cell, baseline first; no attack on ``random``."""
    plan = sweep.plan
    cells = []
    for controller in sweep.controllers:
        runs: list[str | None] = [*controller_runs(controller)] or [None]
        for family_name, family, level in plan.cell_levels(attackable=controller != RANDOM):
            perturbation = family.perturbation if family else None
            for run in runs:
                for seed in plan.seeds:
                    key = cell_key(controller, family_name, level, seed)
                    cells.append(
                        LabCell(
                            key=key if len(runs) == 1 else f"{key}|{run}",
                            controller=controller,
                            run=run,
                            family=family_name,
                            perturbation=perturbation,
                            level=level,
                            seed=seed,
                            episodes=plan.episodes,
                            env=sweep.env,
                            lipschitz_epsilon=plan.lipschitz_epsilon,
                        )
                    )
    return cells


def lab_level_setting(family: Family, level: float | str) -> str:
    """What a lab family's level is: the noise σ or the attack's ℓ2 radius."""
    symbol = "σ" if family.perturbation == OBSERVATION_NOISE else "ℓ2 ε"
    return f"{symbol}={level:g}" if isinstance(level, float | int) else str(level)


class _Recorder:
    """A learner that keeps the observations it acts on (for the Lipschitz estimate)."""

    def __init__(self, learner: Any) -> None:
        self.learner = learner
        self.actors = learner.actors
        self.seen: list[list[np.ndarray]] = [[] for _ in self.actors]

    def act(self, obs: list[np.ndarray], explore: bool, rng: np.random.Generator) -> list[np.ndarray]:
        for seen, o in zip(self.seen, obs, strict=True):
            seen.append(np.asarray(o, dtype=np.float32).copy())
        return self.learner.act(obs, explore=explore, rng=rng)


def run_lab_cell(cell: LabCell) -> dict[str, float]:
    """Evaluate one cell: ``episode_return`` is the mean over its episodes of the mean per-agent return;
    a learned run's unperturbed cell also measures its actors' empirical Lipschitz constant."""
    import torch

    from ernie_traffic.lab.evaluate import episode_returns, random_policy_returns
    from ernie_traffic.lab.train import load_learner

    # The attack's PGD restarts draw from torch's global generator: a cell gives the same numbers anywhere.
    torch.manual_seed(cell.seed)
    env = evaluation_env(cell.env)
    if cell.perturbation == OBSERVATION_NOISE:
        env = env.model_copy(update={"observation_noise": float(cell.level)})
    if cell.run is None:
        returns = random_policy_returns(env, cell.episodes, cell.seed)
        return {"episode_return": float(returns.mean())}
    _, learner = load_learner(cell.run)
    attack = float(cell.level) if cell.perturbation == OBSERVATION_ATTACK else 0.0
    if cell.family != BASELINE:
        returns = episode_returns(learner, env, cell.episodes, cell.seed, attack_epsilon=attack)
        return {"episode_return": float(returns.mean())}
    recorder = _Recorder(learner)
    returns = episode_returns(recorder, env, cell.episodes, cell.seed)  # type: ignore[arg-type]
    observed = list(zip(learner.actors, recorder.seen, strict=True))
    return {
        "episode_return": float(returns.mean()),
        "lipschitz": mean_lipschitz(observed, cell.lipschitz_epsilon),
    }


DOMAINS["lab"] = Domain(
    expand=expand_lab_cells,
    problems=lab_sweep_problems,
    run_cell=run_lab_cell,
    metrics=("episode_return",),  # mean per-agent return of the cell's episodes
    takes_env=True,
    plan_misfit=lambda plan: (
        None
        if plan.horizon is None
        else "horizon applies to traffic sweeps; a lab cell runs plan.episodes episodes"
    ),
    level_setting=lab_level_setting,
    controller_name=controller_label,
    run_family=lambda controller: None,  # runs pooled under a label are one controller already
    setting=lambda sweep: (f"Environment {sweep.network}", f"{sweep.plan.episodes} episodes per cell"),
)
