"""Where SUMO lives: found through the ``sumo`` Python package, never through a user's SUMO_HOME."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

from ernie_traffic.errors import UserInputError


@functools.cache
def sumo_home() -> Path:
    """The SUMO installation shipped by the ``eclipse-sumo`` wheel."""
    import sumo

    return Path(sumo.SUMO_HOME)


def sumo_binary(name: str = "sumo") -> Path:
    """Path of a SUMO executable (``sumo``, ``sumo-gui``, ``netgenerate``, ``netconvert``...)."""
    path = sumo_home() / "bin" / name
    if not path.exists():
        raise UserInputError(f"SUMO executable {name!r} not found in {path.parent}")
    return path


def sumo_tool(relative: str) -> Path:
    """Path of a script under SUMO's ``tools/`` folder, e.g. ``randomTrips.py``."""
    path = sumo_home() / "tools" / relative
    if not path.exists():
        raise UserInputError(f"SUMO tool {relative!r} not found in {path.parent}")
    return path


def sumo_env() -> dict[str, str]:
    """Environment for SUMO subprocesses: SUMO_HOME set to the bundled installation."""
    env = dict(os.environ)
    env["SUMO_HOME"] = str(sumo_home())
    return env


def run_sumo_program(
    args: list[str | os.PathLike[str]], what: str, cwd: str | os.PathLike[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a SUMO binary or tool script; on failure raise one line with SUMO's own first error."""
    program = Path(args[0])
    command = [sys.executable, *map(str, args)] if program.suffix == ".py" else list(map(str, args))
    result = subprocess.run(command, capture_output=True, text=True, env=sumo_env(), cwd=cwd, check=False)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).splitlines()
        errors = [line for line in lines if "rror" in line] or lines[-1:] or ["no output"]
        raise UserInputError(f"{what}: {program.name} failed: {errors[0].strip()}")
    return result
