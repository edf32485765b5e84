"""A sweep: controllers × (baseline + every family level) × seeds on one network, validated up front.

A sweep's ``domain`` says what its cells are: ``traffic`` (controllers on a SUMO network, the cells of
:mod:`ernie_traffic.stress.cells`) or ``lab`` (trained particle / mean-field / drone runs in their
environment, the cells of :mod:`ernie_traffic.lab.stress`, which plugs them in as a :class:`Domain`:
imports run lab -> stress only). Everything that differs between them is a member of :class:`Domain`;
both write the same records, so one summary and one report serve both.

The sweep's directory holds everything the report needs::

    <out>/sweep.yaml        the resolved sweep (network, controllers, plan): what resume checks
    <out>/results.jsonl     one record per finished cell, appended as cells finish
    <out>/provenance.json   command line, versions and host of each invocation
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from math import inf
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ernie_traffic.controllers.resolve import is_classical, is_run, load_learned
from ernie_traffic.errors import UserInputError
from ernie_traffic.stress.adversaries import load_global_q
from ernie_traffic.stress.cells import StressCell, TrafficCell, cell_key, perturbation_fields, run_cell
from ernie_traffic.stress.plan import (
    METRICS,
    NETWORK,
    OBSERVATION_ATTACK,
    RUNNER_KINDS,
    TURNING_MIX,
    Family,
    StressPlan,
)
from ernie_traffic.stress.runner import Progress, run_cells
from ernie_traffic.utils.config_files import build_config, read_mapping, save_or_match_config
from ernie_traffic.utils.io import atomic_write_json, read_jsonl

SWEEP_FILE = "sweep.yaml"
RESULTS_FILE = "results.jsonl"
PROVENANCE_FILE = "provenance.json"


class Sweep(BaseModel):
    """What a stress test runs: the network (or lab environment), the controllers and the plan."""

    model_config = ConfigDict(extra="forbid")

    domain: Literal["traffic", "lab"] = Field(
        default="traffic", description="traffic: controllers on a SUMO network; lab: trained lab runs."
    )
    network: str = Field(
        description="Traffic: network name or .net.xml path; lab: the environment's name in the report."
    )
    controllers: list[str] = Field(min_length=1)
    plan: StressPlan
    env: dict[str, Any] | None = Field(
        default=None,
        description="Lab only: the evaluation environment, its lab family (particle, meanfield or "
        "drones) and env config fields.",
    )
    title: str | None = Field(
        default=None, description="The report's title; default: the controllers and the network."
    )
    groups: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Report lines of several controllers, e.g. a recipe's training runs: name -> "
        "controllers. Other controllers are grouped by run family (see controller_groups).",
    )
    reference: str | None = Field(
        default=None, description="The group every other is compared with in the report's verdict tables."
    )

    @field_validator("controllers")
    @classmethod
    def _distinct(cls, controllers: list[str]) -> list[str]:
        if len(set(controllers)) != len(controllers):
            raise ValueError(f"controllers must be distinct: {controllers}")
        return controllers

    @model_validator(mode="after")
    def _fits_domain(self) -> Sweep:
        domain = domain_of(self)
        if domain.takes_env != (self.env is not None):
            raise ValueError("env is given for lab sweeps and only for them")
        if misfit := domain.plan_misfit(self.plan):
            raise ValueError(misfit)
        if self.plan.metric not in domain.metrics:
            raise ValueError(f"metric {self.plan.metric!r} is not a {self.domain} metric: {domain.metrics}")
        grouped = [c for members in self.groups.values() for c in members]
        if unknown := sorted(set(grouped) - set(self.controllers)):
            raise ValueError(f"groups name controllers the sweep does not run: {', '.join(unknown)}")
        if twice := sorted({c for c in grouped if grouped.count(c) > 1}):
            raise ValueError(f"a controller belongs to one group at most: {', '.join(twice)}")
        if any(not members for members in self.groups.values()):
            raise ValueError("every group needs at least one controller")
        if self.reference is not None and self.reference not in controller_groups(self):
            raise ValueError(
                f"reference {self.reference!r} is not a group: {', '.join(controller_groups(self))}"
            )
        return self


@dataclass(frozen=True)
class Domain:
    """A sweep ``domain``: its cells expanded, checked and run, the metrics they record, the sweeps
    that fit it, and how its report names levels, controllers and the setting. Registered in
    :data:`DOMAINS`: traffic's below, the lab's by :mod:`ernie_traffic.lab.stress`."""

    expand: Callable[[Sweep], list[StressCell]]
    problems: Callable[[Sweep], list[str]]  # every reason not to run the sweep, before any cell runs
    run_cell: Callable[[Any], dict[str, float]]  # takes the domain's own cells
    metrics: tuple[str, ...]  # what its cells record (each report plot and table shows these)
    takes_env: bool  # whether its sweeps describe their environment in ``env``
    plan_misfit: Callable[[StressPlan], str | None]  # why a plan's settings do not apply to its cells
    level_setting: Callable[[Family, float | str], str]
    controller_name: Callable[[str], str]  # a controller's line when it is a line of its own
    run_family: Callable[[str], str | None]  # the line a controller joins by its path, if any
    setting: Callable[[Sweep], tuple[str, str]]  # the report's first line: where cells run, how long


DOMAINS: dict[str, Domain] = {}


def domain_of(sweep: Sweep) -> Domain:
    if sweep.domain not in DOMAINS:
        raise UserInputError(f"{sweep.domain} sweep: no cells loaded (import ernie_traffic.lab.stress)")
    return DOMAINS[sweep.domain]


def expand_cells(sweep: Sweep) -> list[StressCell]:
    """Every (controller, family, level, seed) cell, baseline first."""
    return domain_of(sweep).expand(sweep)


def _traffic_cells(sweep: Sweep) -> list[TrafficCell]:
    """Gradient attacks only on the torch policies of run directories (classical controllers and
    ONNX bundles have no gradients)."""
    plan = sweep.plan
    cells = []
    for controller in sweep.controllers:
        for family_name, family, level in plan.cell_levels(attackable=is_run(controller)):
            perturbation = family.perturbation if family else None
            for seed in plan.seeds:
                cells.append(
                    TrafficCell(
                        key=cell_key(controller, family_name, level, seed),
                        controller=controller,
                        family=family_name,
                        perturbation=perturbation,
                        level=level,
                        params=_cell_params(family, level),
                        scale=family.scale if family else None,
                        adversary=family.adversary
                        if not is_classical(controller) and perturbation == "malicious_agents"
                        else None,
                        seed=seed,
                        network=str(level) if perturbation == NETWORK else sweep.network,
                        horizon=plan.horizon,
                        traffic=plan.traffic,
                        lipschitz_epsilon=plan.lipschitz_epsilon,
                    )
                )
    return cells


def _cell_params(family: Family | None, level: float | str | None) -> dict[str, Any]:
    """The family's params; on the value scale the level is the perturbation's parameter itself."""
    if family is None:
        return {}
    if family.scale == "value" and family.perturbation not in RUNNER_KINDS:
        from ernie_traffic.envs.traffic.perturbations import PERTURBATIONS

        perturbation = PERTURBATIONS.get(family.perturbation)
        if perturbation is not None:
            return {**family.params, perturbation.parameter: level}
    return family.params


def validate_sweep(sweep: Sweep) -> None:
    """Raise one :class:`UserInputError` listing every problem, before any simulation starts."""
    if problems := domain_of(sweep).problems(sweep):
        raise UserInputError("\n".join(problems))


def _traffic_problems(sweep: Sweep) -> list[str]:
    """Unknown networks, perturbations or controllers, out-of-range levels, incompatible controllers."""
    from ernie_traffic.scenarios import resolve_scenario

    problems: list[str] = []
    networks = [sweep.network] + [
        str(level) for f in sweep.plan.families if f.perturbation == NETWORK for level in f.levels
    ]
    for network in networks:
        try:
            resolve_scenario(network)
        except UserInputError as exc:
            problems.append(str(exc))
    for family in sweep.plan.families:
        problems += [f"family {family.name!r}: {p}" for p in _family_problems(family)]
    return problems + _controller_problems(sweep, networks)


def _family_problems(family: Family) -> list[str]:
    """Unknown perturbation, level out of its range, or parameters the perturbation does not take."""
    from ernie_traffic.envs.traffic.config import PerturbationConfig
    from ernie_traffic.envs.traffic.perturbations import PERTURBATIONS

    if family.perturbation == NETWORK:
        return []
    if family.perturbation == OBSERVATION_ATTACK:
        return [f"attack radius ε = {level} must be > 0" for level in family.levels if float(level) <= 0]
    if family.perturbation == TURNING_MIX:
        return _turning_mix_problems(family)
    if family.perturbation not in PERTURBATIONS:
        known = ", ".join([*PERTURBATIONS, *RUNNER_KINDS])
        return [f"unknown perturbation {family.perturbation!r}; known: {known}"]
    perturbation = PERTURBATIONS[family.perturbation]
    problems = []
    for level in family.levels:
        if family.scale == "value" and not _value_in_range(perturbation.parameter, float(level)):
            problems.append(f"{family.perturbation}: {perturbation.parameter} = {level} is out of range")
            continue
        fields = perturbation_fields(family.perturbation, family.scale, level, _cell_params(family, level))
        try:
            perturbation(PerturbationConfig(**fields))
        except ValidationError as exc:
            problems.append(f"{family.perturbation} level {level}: {exc.errors()[0]['msg']}")
        except UserInputError as exc:
            problems.append(str(exc))
    return problems


def _value_in_range(parameter: str, value: float) -> bool:
    """Shares (``fraction``) lie in [0, 1]; factors, scales and σ are non-negative."""
    return 0 <= value <= (1 if parameter == "fraction" else inf)


def _turning_mix_problems(family: Family) -> list[str]:
    from ernie_traffic.scenarios.variants import TURN_KINDS

    problems = [f"turn weight {level} must be > 0" for level in family.levels if float(level) <= 0]
    if set(family.params) - {"turn"}:
        problems.append(f"turning_mix takes only the param 'turn', got {sorted(family.params)}")
    if family.params.get("turn", "left") not in TURN_KINDS:
        problems.append(f"turn {family.params['turn']!r} is not one of {', '.join(TURN_KINDS)}")
    return problems


_SEED_DIR = re.compile(r"seed\d+")


def controller_groups(sweep: Sweep) -> dict[str, list[str]]:
    """The report's lines: label -> controllers, in the sweep's order. The sweep's ``groups`` first;
    then the line its domain's ``run_family`` names (a traffic run directory ``<family>/seed<N>``,
    ``train --seeds``' layout, joins the line ``<family>``); any other controller is a line of its own,
    named by its domain (a lab controller pooling runs by its label; a run directory by its folder's
    name) when no other line has that name, else by itself."""
    domain = domain_of(sweep)
    labels = {c: label for label, members in sweep.groups.items() for c in members}
    alone = []
    for controller in sweep.controllers:
        if controller in labels:
            continue
        if (family := domain.run_family(controller)) is not None:
            labels[controller] = family
        else:
            alone.append(controller)
    short = {c: domain.controller_name(c) for c in alone}
    taken = [*short.values(), *set(labels.values())]
    for controller, label in short.items():
        labels[controller] = label if taken.count(label) == 1 else controller
    groups: dict[str, list[str]] = {}
    for controller in sweep.controllers:
        groups.setdefault(labels[controller], []).append(controller)
    return groups


def _seed_run_family(controller: str) -> str | None:
    path = Path(controller)
    return path.parent.name if not is_classical(controller) and _SEED_DIR.fullmatch(path.name) else None


def _traffic_level_setting(family: Family, level: float | str) -> str:
    """What a severity level means physically, e.g. ``factor=0.75`` for speed_factor at level 0.5."""
    from ernie_traffic.envs.traffic.perturbations import PERTURBATIONS

    if family.perturbation == OBSERVATION_ATTACK:
        return f"ε={level:g}"
    if family.perturbation == TURNING_MIX:
        return f"{family.params.get('turn', 'left')} turns ×{level:g}"
    perturbation = PERTURBATIONS.get(family.perturbation)
    if perturbation is None:
        return str(level)
    value = _cell_params(family, level).get(perturbation.parameter, perturbation.at_level(float(level)))
    return f"{perturbation.parameter}={value:g}"


def _controller_problems(sweep: Sweep, networks: list[str]) -> list[str]:
    from ernie_traffic.stress.compat import incompatibilities

    global_q_adversary_needed = any(
        f.perturbation == "malicious_agents" and f.adversary == "min_q" for f in sweep.plan.families
    )
    problems = []
    for controller in sweep.controllers:
        if is_classical(controller):
            continue
        try:
            loaded = load_learned(controller)
            if global_q_adversary_needed and is_run(controller):
                # a malicious-agent cell must not be the first to find it unreadable
                load_global_q(controller)
        except UserInputError as exc:
            problems.append(str(exc))
            continue
        for network in dict.fromkeys(networks):
            problems += [f"{controller}: {p}" for p in incompatibilities(loaded, network)]
    return problems


def load_sweep(out_dir: str | os.PathLike[str]) -> Sweep:
    """The sweep saved in a sweep directory (for resume and for the report)."""
    path = Path(out_dir) / SWEEP_FILE
    if not path.is_file():
        raise UserInputError(f"{out_dir}: not a stress-test directory (no {SWEEP_FILE})")
    return build_config(Sweep, read_mapping(path), str(path))


def record_provenance(
    out_dir: str | os.PathLike[str], command: list[str], backend: str, workers: int
) -> None:
    """Append this invocation (command, versions, host) to the sweep's provenance file."""
    path = Path(out_dir) / PROVENANCE_FILE
    history = json.loads(path.read_text()) if path.is_file() else []
    history.append(
        {
            "command": command,
            "backend": backend,
            "workers": workers,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "versions": package_versions(),
        }
    )
    atomic_write_json(path, history)


def package_versions() -> dict[str, str]:
    versions = {}
    for name in ("ernie-traffic", "eclipse-sumo", "libsumo", "torch", "numpy", "matplotlib", "ray", "mpe2"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    if "ernie-traffic" not in versions:  # running from a source tree
        from ernie_traffic import __version__

        versions["ernie-traffic"] = f"{__version__} (source)"
    return versions


def latest_records(out_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The last record of each cell (a failed cell re-run on resume is superseded by its new record)."""
    return list({record["key"]: record for record in read_jsonl(Path(out_dir) / RESULTS_FILE)}.values())


def run_sweep(
    sweep: Sweep,
    out_dir: str | os.PathLike[str],
    backend: str = "process",
    workers: int = 2,
    address: str | None = None,
    command: list[str] | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Validate, then run every cell of ``sweep`` not yet finished in ``out_dir``; return new records."""
    validate_sweep(sweep)
    save_or_match_config(sweep, Path(out_dir) / SWEEP_FILE, "sweep (network, controllers or plan)")
    record_provenance(out_dir, command or sys.argv, backend, workers)
    results = Path(out_dir) / RESULTS_FILE
    cells = expand_cells(sweep)
    return run_cells(cells, results, domain_of(sweep).run_cell, backend, workers, address, progress)


DOMAINS["traffic"] = Domain(
    expand=_traffic_cells,
    problems=_traffic_problems,
    run_cell=run_cell,
    metrics=METRICS,
    takes_env=False,
    plan_misfit=lambda plan: (
        None if plan.episodes == 1 else "episodes applies to lab sweeps; a traffic cell is one simulation"
    ),
    level_setting=_traffic_level_setting,
    controller_name=lambda c: c if is_classical(c) else Path(c).name,
    run_family=_seed_run_family,
    setting=lambda sweep: (
        f"Network {sweep.network}",
        f"horizon {sweep.plan.horizon or 'scenario default'} s",
    ),
)
