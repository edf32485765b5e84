"""Typed configs (pydantic) to and from the YAML/TOML files users edit."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ernie_traffic.errors import UserInputError, first_line
from ernie_traffic.utils.io import atomic_write_text

M = TypeVar("M", bound=BaseModel)


def read_mapping(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file into a dict."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: config file not found")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            raise UserInputError(f"{path}: unknown config format (use .yaml, .yml or .toml)")
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise UserInputError(f"{path}: not valid {path.suffix[1:].upper()}: {first_line(exc)}") from exc
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected a mapping of config fields at the top level")
    return data


def validation_message(exc: ValidationError, source: str) -> str:
    """One line per invalid field: ``source: field.path: message``."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        lines.append(f"{source}: {where}: {err['msg']}")
    return "\n".join(lines)


def build_config(model: type[M], data: dict[str, Any], source: str) -> M:
    """Validate ``data`` into ``model``, turning pydantic's error into one line per field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UserInputError(validation_message(exc, source)) from exc


def load_config(model: type[M], path: str | os.PathLike[str] | None = None, **overrides: Any) -> M:
    """Load ``path`` (if given), apply non-None ``overrides`` (dotted keys allowed), validate."""
    data: dict[str, Any] = read_mapping(path) if path is not None else {}
    for key, value in overrides.items():
        if value is None:
            continue
        target = data
        *parents, leaf = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return build_config(model, data, str(path) if path is not None else "config")


def save_config(config: BaseModel, path: str | os.PathLike[str]) -> Path:
    """Write ``config`` atomically as YAML, the form ``load_config`` reads back."""
    data = config.model_dump(mode="json")
    return atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))


def save_or_match_config(config: BaseModel, path: str | os.PathLike[str], what: str) -> None:
    """Save ``config`` as the file of a new output directory, or check that the file already there
    holds this same config (a resumed sweep or study); another one is refused."""
    path = Path(path)
    if not path.is_file():
        save_config(config, path)
    elif build_config(type(config), read_mapping(path), str(path)) != config:
        raise UserInputError(f"{path.parent}: holds a different {what}; use a new --out directory")
