"""The config of a study: recipes (learner × regularizer × settings) trained on several seeds, and the
stress plan they are tested with beside classical controllers. A YAML/TOML file::

    name: grid2x2-paper
    network: grid2x2
    reference: QCOMBO            # the recipe the verdict tables compare every line with
    seeds: [0, 1, 2, 3, 4]       # training seeds of every recipe
    budget:
      episodes: 15               # training episodes per run
      episode_seconds: null      # simulated seconds per training episode (null: the scenario's window)
    training: {}                 # TrainConfig fields of every recipe, e.g. {qcombo: {hidden: [64, 64]}}
    recipes:
      QCOMBO: {algo: qcombo, reg: none}
      ERNIE: {algo: qcombo, reg: ernie, settings: {regularizer: {epsilon: 0.1}}}
    controllers: [actuated, max-pressure, fixed-time]
    stress:                      # a stress plan (ernie_traffic.stress.plan); seeds: evaluation seeds
      seeds: [0, 1, 2]
      families: [...]

Shipped studies live in the repository's ``studies/`` folder and are found by name.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ernie_traffic.algorithms.regularization import RegularizerName
from ernie_traffic.controllers.classical import ClassicalName
from ernie_traffic.errors import UserInputError
from ernie_traffic.stress.plan import CELL_ENV_FIELDS, StressPlan
from ernie_traffic.training.config import TrainConfig
from ernie_traffic.utils.config_files import build_config, read_mapping, validation_message

STUDIES_DIR = Path(__file__).resolve().parents[2] / "studies"
# A recipe names a folder of run directories and a line of the report.
_RECIPE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
# TrainConfig fields the study sets itself: from the recipe, its seeds and its budget.
_STUDY_SET = {
    "algo": "the recipe's algo",
    "reg": "the recipe's reg",
    "seed": "the study's seeds",
    "episodes": "the study's budget",
    "out_dir": "the study's --out",
    "name": "the recipe's name",
}
_STUDY_SET_ENV = {"network": "the study's network", "episode_seconds": "the study's budget"}


class Recipe(BaseModel):
    """A learner, its regularizer and any other training settings."""

    model_config = ConfigDict(extra="forbid")

    algo: Literal["qcombo", "coma"] = Field("qcombo", description="learner")
    reg: RegularizerName = Field(description="regularizer: none, ernie, ernie-a or gaussian")
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="TrainConfig fields of this recipe (nested), over the study's `training` fields.",
    )


class Budget(BaseModel):
    """How much each training run simulates."""

    model_config = ConfigDict(extra="forbid")

    episodes: int = Field(ge=1, description="training episodes per run")
    episode_seconds: float | None = Field(
        default=None, gt=0, description="simulated seconds per training episode; default: the scenario's"
    )


class Study(BaseModel):
    """Recipes × training seeds, trained, then stress-tested beside classical controllers."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="the study's name: the report's title")
    network: str = Field("grid2x2", description="network name or .net.xml path, trained and stressed on")
    recipes: dict[str, Recipe] = Field(min_length=1, description="recipe name -> recipe")
    reference: str = Field(description="the recipe every other line is compared with (plain QCOMBO)")
    seeds: list[int] = Field(min_length=1, description="training seeds of every recipe")
    budget: Budget
    training: dict[str, Any] = Field(
        default_factory=dict, description="TrainConfig fields shared by every recipe (nested)"
    )
    controllers: list[ClassicalName] = Field(
        default_factory=list, description="classical controllers stressed beside the recipes"
    )
    stress: StressPlan = Field(description="the stress plan; its seeds are the evaluation seeds")

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds) or min(seeds) < 0:
            raise ValueError("training seeds must be distinct and ≥ 0")
        return seeds

    @field_validator("controllers")
    @classmethod
    def _distinct_controllers(cls, controllers: list[str]) -> list[str]:
        if len(set(controllers)) != len(controllers):
            raise ValueError("controllers must be distinct")
        return controllers

    @field_validator("recipes")
    @classmethod
    def _recipe_names(cls, recipes: dict[str, Recipe]) -> dict[str, Recipe]:
        bad = [name for name in recipes if not _RECIPE_NAME.fullmatch(name)]
        if bad:
            raise ValueError(
                f"recipe names are folder names (letters, digits, _ . + -, not first): {', '.join(bad)}"
            )
        return recipes

    @model_validator(mode="after")
    def _reference_is_a_recipe(self) -> Study:
        if self.reference not in self.recipes:
            raise ValueError(f"reference {self.reference!r} is not a recipe: {', '.join(self.recipes)}")
        if clash := sorted(set(self.recipes) & set(self.controllers)):
            raise ValueError(f"recipe names must differ from controller names: {', '.join(clash)}")
        return self

    def stress_plan(self) -> StressPlan:
        """``stress`` with the environment settings of ``training.env`` (detectors, timing) under
        its own ``traffic``: every controller is stressed with the sensors its recipes trained on."""
        trained = {k: v for k, v in (self.training.get("env") or {}).items() if k not in CELL_ENV_FIELDS}
        return self.stress.model_copy(update={"traffic": {**trained, **self.stress.traffic}})

    def train_config(self, recipe: str, seed: int, runs_dir: Path) -> TrainConfig:
        """The full training config of one run of ``recipe`` (run directory ``runs_dir/recipe/seed<N>``).

        Raises pydantic's ``ValidationError`` for settings TrainConfig rejects. A study's run is
        evaluated by the stress test, so ``eval_episodes`` defaults to 0 here (a recipe may set it).
        """
        data = _merge(_merge({"eval_episodes": 0}, self.training), self.recipes[recipe].settings)
        data.update(
            algo=self.recipes[recipe].algo,
            reg=self.recipes[recipe].reg,
            seed=seed,
            episodes=self.budget.episodes,
            out_dir=str(runs_dir / recipe),
            name=f"seed{seed}",
        )
        env = dict(data.get("env") or {}, network=self.network)
        if self.budget.episode_seconds is not None:
            env["episode_seconds"] = self.budget.episode_seconds
        data["env"] = env
        return TrainConfig.model_validate(data)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``, mappings merged key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _settings_problems(study: Study, source: str) -> list[str]:
    """Settings the study sets itself, and settings TrainConfig rejects, one line each."""
    problems = []
    sections = {
        "training": study.training,
        **{f"recipes.{n}.settings": r.settings for n, r in study.recipes.items()},
    }
    for where, settings in sections.items():
        env = settings.get("env") if isinstance(settings.get("env"), dict) else {}
        for key, owner in _STUDY_SET.items():
            if key in settings:
                problems.append(f"{source}: {where}.{key}: set by {owner}")
        for key, owner in _STUDY_SET_ENV.items():
            if key in env:
                problems.append(f"{source}: {where}.env.{key}: set by {owner}")
    if problems:
        return problems
    for recipe in study.recipes:
        try:
            study.train_config(recipe, study.seeds[0], Path("runs"))
        except ValidationError as exc:
            problems.append(validation_message(exc, f"{source}: recipes.{recipe} (with training)"))
    return problems


def load_study(name_or_path: str | os.PathLike[str]) -> Study:
    """The study in a YAML/TOML file, or a shipped study by name (``grid2x2-paper``); every problem is
    one ``UserInputError`` line naming the file and the field."""
    path = Path(name_or_path)
    if not path.is_file():
        shipped = STUDIES_DIR / f"{name_or_path}.yaml"
        if not shipped.is_file():
            known = ", ".join(sorted(p.stem for p in STUDIES_DIR.glob("*.yaml")))
            raise UserInputError(f"{name_or_path}: no such study file, nor a shipped study ({known})")
        path = shipped
    study = build_config(Study, read_mapping(path), str(path))
    if problems := _settings_problems(study, str(path)):
        raise UserInputError("\n".join(problems))
    return study
