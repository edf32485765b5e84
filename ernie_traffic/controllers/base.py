"""The Controller protocol: anything that drives the signals of a traffic environment."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Controller(Protocol):
    """Drives a :class:`~ernie_traffic.envs.traffic.TrafficSignalEnv` during evaluation.

    ``control`` is the env control mode it needs: ``"agents"`` (its actions drive the signals),
    or SUMO's own ``"fixed_time"`` / ``"actuated"`` programs (its actions are ignored).
    ``additional_files`` are SUMO additional files (e.g. a signal program) the env must load.
    """

    name: str
    control: str
    additional_files: tuple[str, ...]

    def reset(self, env: Any) -> None: ...

    def act(self, observations: dict[str, np.ndarray]) -> dict[str, int]: ...
