"""Starting and stopping SUMO through libsumo (in-process) or TraCI (a subprocess, also for the GUI).

libsumo runs one simulation per process; :class:`Simulation` keeps track of the live one so a
second environment gets a clear error instead of silently taking over the first one's simulation.
"""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path
from typing import Any

from ernie_traffic.errors import UserInputError
from ernie_traffic.utils.sumo_tools import sumo_binary

_live_libsumo_owner: object | None = None
_traci_labels = itertools.count()


class Simulation:
    """A running SUMO; ``.api`` is the libsumo module or a TraCI connection (same domains)."""

    def __init__(self, owner: object, backend: str, gui: bool, args: list[str], inputs: list[Path]):
        global _live_libsumo_owner
        self.backend = backend
        binary = str(sumo_binary("sumo-gui" if gui else "sumo"))
        if backend == "libsumo":
            if _live_libsumo_owner is not None and _live_libsumo_owner is not owner:
                raise UserInputError(
                    "libsumo runs one simulation per process and another traffic environment is still "
                    "open: close() it first, or use backend='traci'"
                )
            import libsumo

            self._start(lambda: libsumo.start([binary, *args]), libsumo.close, inputs)
            _live_libsumo_owner = owner
            self._owner = owner
            self.api: Any = libsumo
        else:
            import traci

            label = f"ernie-{next(_traci_labels)}"
            self._start(lambda: traci.start([binary, *args], label=label), lambda: None, inputs)
            self.api = traci.getConnection(label)
        self.closed = False

    @staticmethod
    def _start(start: Any, clean_up: Any, inputs: list[Path]) -> None:
        try:
            start()
        except Exception as error:  # libsumo.TraCIException / traci.FatalTraCIError carry SUMO's message
            with contextlib.suppress(Exception):  # a half-loaded libsumo must be closed before the next start
                clean_up()
            message = " ".join(str(error).split()) or type(error).__name__
            files = ", ".join(str(p) for p in inputs)
            raise UserInputError(f"SUMO failed to start on {files}: {message}") from None

    def close(self) -> None:
        """Close the simulation (SUMO then writes its tripinfo for unfinished vehicles)."""
        global _live_libsumo_owner
        if self.closed:
            return
        self.closed = True
        try:
            # A simulation that already died (a SUMO error mid-episode) cannot be closed again; the
            # next reset() must still work.
            with contextlib.suppress(Exception):
                self.api.close()
        finally:
            if self.backend == "libsumo" and _live_libsumo_owner is self._owner:
                _live_libsumo_owner = None
