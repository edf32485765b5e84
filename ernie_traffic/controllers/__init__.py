"""Signal controllers: the Controller protocol, classical controllers, trained policies."""

from typing import Any

from ernie_traffic.controllers.base import Controller
from ernie_traffic.controllers.classical import CLASSICAL, classical_controller

__all__ = ["CLASSICAL", "Controller", "LearnedController", "classical_controller", "load_controller"]


def __getattr__(name: str) -> Any:
    # Trained policies need torch, seconds to import: classical and bundle users never pay for it.
    if name in ("LearnedController", "load_controller"):
        from ernie_traffic.controllers import learned

        return getattr(learned, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
