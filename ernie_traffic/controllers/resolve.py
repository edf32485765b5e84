"""One way from a controller argument to a controller, for every command that takes controllers
(``evaluate``, ``stress-test``, studies): a classical controller's name, an exported bundle's folder
or a training run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ernie_traffic.controllers.bundled import is_bundle, load_bundle_controller
from ernie_traffic.controllers.classical import CLASSICAL, classical_controller
from ernie_traffic.errors import UserInputError


def is_classical(argument: str) -> bool:
    """Classical controllers are named; learned ones are run directories or exported bundles."""
    return argument in CLASSICAL


def is_learned(argument: str) -> bool:
    """A folder, not a name (classical, or ``random``: the uniformly random floor a learner must beat,
    which ``evaluate`` takes and sweeps do not): a run directory or an exported bundle."""
    return not is_classical(argument) and argument != "random"


def is_run(argument: str) -> bool:
    """A learned controller with torch modules (gradients): a training run directory."""
    return is_learned(argument) and not is_bundle(argument)


def resolve_controller(
    argument: str, network: str, route_files: list[str] | None = None, work_dir: str | Path = "."
) -> Any:
    """The controller ``argument`` names (``network``, ``route_files``: what a classical controller
    plans for; ``work_dir``: where it writes its program files); anything else is one error line."""
    if is_learned(argument):
        return load_learned(argument)
    return classical_controller(argument, network, route_files, work_dir)


def load_learned(argument: str) -> Any:
    """The learned controller of an exported bundle's folder or of a training run directory."""
    if is_bundle(argument):
        return load_bundle_controller(argument)
    if not Path(argument).is_dir():
        raise UserInputError(
            f"{argument}: not a classical controller ({', '.join(CLASSICAL)}) nor a trained run/export"
        )
    # Imported only here: torch takes seconds to import, and classical and bundle users never need it.
    from ernie_traffic.controllers.learned import load_controller

    return load_controller(argument)
