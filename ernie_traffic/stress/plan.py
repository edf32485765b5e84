"""Stress plans: which perturbation families to sweep, at which severity levels, over which seeds.

A plan is a YAML file (or the built-in :data:`DEFAULT_PLAN`)::

    seeds: [0, 1, 2]
    horizon: 900            # simulated seconds per cell (default: the scenario's demand hour)
    traffic: {detector_length: null}   # environment settings of every cell (default: TrafficEnvConfig's)
    metric: mean_delay      # the headline metric of the report's ranking
    families:
      - name: speed
        perturbation: speed_factor
        scale: value        # levels are speed factors (default scale: severity in [0, 1])
        levels: [0.6, 0.8, 1.2, 1.4]
        nominal: 1.0        # where the unperturbed run sits on the level axis
      - name: malicious
        perturbation: malicious_agents
        levels: [0.25, 0.5]
        adversary: min_q    # or random
      - name: topology
        perturbation: network
        levels: [grid3x3]

``perturbation`` is a name from the traffic environment's perturbation registry, or one of the
kinds the stress runner applies itself: ``observation_attack`` (the core's PGD attack on a learned
controller's observations, level = ε), ``turning_mix`` (the scenario's demand redrawn with one turn
kind weighted by the level; ``params: {turn: left}``) and ``network`` (levels name other networks).
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ernie_traffic.utils.config_files import build_config, read_mapping

OBSERVATION_ATTACK = "observation_attack"
NETWORK = "network"
TURNING_MIX = "turning_mix"
RUNNER_KINDS = (OBSERVATION_ATTACK, NETWORK, TURNING_MIX)  # applied by the stress runner, not the env
BASELINE = "baseline"  # the family of a controller's unperturbed cells
CELL_ENV_FIELDS = ("network", "route_files", "perturbations", "episode_seconds", "control")
METRICS = (
    "mean_delay",
    "mean_travel_time",
    "mean_waiting_time",
    "throughput",
    "unfinished",
    "episode_return",
)
HIGHER_IS_BETTER = {"throughput", "episode_return"}


def direction(metric: str) -> str:
    """Which way is better for ``metric``, as the report labels it."""
    return "higher is better" if metric in HIGHER_IS_BETTER else "lower is better"


class Family(BaseModel):
    """One perturbation family swept over severity levels."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Label of the family in the report, e.g. 'speed'.")
    perturbation: str = Field(
        description="Environment perturbation name, 'observation_attack' (ε levels), 'turning_mix' "
        "(turn-weight levels) or 'network' (network-name levels)."
    )
    levels: list[float | str] = Field(
        min_length=1, description="Severity levels (network names for 'network')."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Extra parameters of the perturbation.")
    scale: Literal["severity", "value"] = Field(
        default="severity",
        description="Environment perturbations: levels are severities in [0, 1] on the registry's scale, "
        "or values of the perturbation's own parameter (e.g. speed factor 1.4).",
    )
    nominal: float | None = Field(
        default=None, description="Severity of the unperturbed run, drawn as the first point of each line."
    )
    adversary: Literal["random", "min_q"] = Field(
        default="min_q",
        description="malicious_agents only: a learned controller's malicious agent takes its lowest-Q action "
        "(min_q, the ERNIE-A threat model) or a random one; classical controllers' is always random.",
    )

    @model_validator(mode="after")
    def _levels_match_kind(self) -> Family:
        want_names = self.perturbation == NETWORK
        for level in self.levels:
            if isinstance(level, str) != want_names:
                kind = "network names" if want_names else "numbers"
                raise ValueError(
                    f"levels of perturbation {self.perturbation!r} must be {kind}, got {level!r}"
                )
        return self


class StressPlan(BaseModel):
    """Perturbation families, severity levels, seeds and the simulated horizon of every cell."""

    model_config = ConfigDict(extra="forbid")

    seeds: list[int] = Field(default=[0, 1, 2], min_length=1, description="Seeds run for every cell.")
    horizon: float | None = Field(
        default=None,
        gt=0,
        description="Traffic: simulated seconds per cell; default: the scenario's demand window.",
    )
    episodes: int = Field(
        default=1, ge=1, description="Lab: evaluation episodes per cell (a traffic cell is one simulation)."
    )
    metric: str = Field(default="mean_delay", description=f"Headline metric, one of {', '.join(METRICS)}.")
    lipschitz_epsilon: float = Field(
        default=0.05,
        gt=0,
        description="Radius of the ball in which a learned controller's Lipschitz constant is measured.",
    )
    families: list[Family] = Field(min_length=1)
    traffic: dict[str, Any] = Field(
        default_factory=dict,
        description="Traffic: TrafficEnvConfig fields every cell's environment starts from, e.g. "
        "{detector_length: null} for controllers trained on whole-lane detectors; the cell sets "
        f"{', '.join(CELL_ENV_FIELDS)}.",
    )

    @field_validator("traffic")
    @classmethod
    def _traffic_fields(cls, traffic: dict[str, Any]) -> dict[str, Any]:
        from ernie_traffic.envs.traffic.config import TrafficEnvConfig

        if set_by_cell := sorted(set(traffic) & set(CELL_ENV_FIELDS)):
            raise ValueError(f"traffic: {', '.join(set_by_cell)} are set by each cell")
        TrafficEnvConfig.model_validate(traffic)  # unknown fields and bad values fail here
        return traffic

    @model_validator(mode="after")
    def _unique_and_known(self) -> StressPlan:
        names = [f.name for f in self.families]
        if duplicated := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"family names must be unique: {', '.join(duplicated)} repeated")
        if BASELINE in names:
            raise ValueError("'baseline' is reserved for the unperturbed cells")
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}; known: {', '.join(METRICS)}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds must be distinct")
        return self

    def cell_levels(self, attackable: bool) -> list[tuple[str, Family | None, float | str | None]]:
        """A controller's (family name, family, level): the baseline, then every family level; the
        observation attack only on a controller that has gradients (``attackable``)."""
        return [(BASELINE, None, None)] + [
            (family.name, family, level)
            for family in self.families
            if attackable or family.perturbation != OBSERVATION_ATTACK
            for level in family.levels
        ]


# Severities on the registry's scale (0 = none, 1 = strongest); speed and demand are swept by value on
# both sides of the unperturbed 1.0, which the registry's one-sided severity scales cannot express.
_SEVERITIES = [0.25, 0.5, 0.75, 1.0]
DEFAULT_PLAN = StressPlan(
    seeds=[0, 1, 2],
    families=[
        Family(
            name="speed", perturbation="speed_factor", scale="value", levels=[0.6, 0.8, 1.2, 1.4], nominal=1
        ),
        Family(
            name="demand",
            perturbation="demand_scale",
            scale="value",
            levels=[0.5, 0.75, 1.25, 1.6],
            nominal=1,
        ),
        Family(
            name="left_turns", perturbation=TURNING_MIX, levels=[2.0, 4.0], params={"turn": "left"}, nominal=1
        ),
        Family(name="lane_closure", perturbation="lane_closure", levels=_SEVERITIES, nominal=0),
        Family(name="sensor_noise", perturbation="observation_noise", levels=_SEVERITIES, nominal=0),
        Family(name="detector_failure", perturbation="detector_failure", levels=_SEVERITIES, nominal=0),
        Family(name="malicious_agents", perturbation="malicious_agents", levels=_SEVERITIES, nominal=0),
        Family(
            name="observation_attack", perturbation=OBSERVATION_ATTACK, levels=[0.01, 0.05, 0.1], nominal=0
        ),
    ],
)


def load_plan(path: str | os.PathLike[str] | None) -> StressPlan:
    """The plan in ``path`` (YAML/TOML), or the built-in default plan when ``path`` is None."""
    if path is None:
        return DEFAULT_PLAN.model_copy(deep=True)
    return build_config(StressPlan, read_mapping(path), str(path))
