"""Worker processes that answer one message at a time over a pipe, and end cleanly on Ctrl-C or SIGTERM.

libsumo allows one simulation per process, so parallel simulations (stress cells, training seeds
of a study, rollout episodes) run in spawned processes. Every such worker:

- ignores SIGINT: the terminal sends Ctrl-C to the whole process group, and the parent alone
  decides (it ends its workers);
- exits when its parent is gone, even if the parent was killed outright (no orphans);
- leaves through Python's exit path on SIGTERM (``end_now``), so that its work's clean-up runs
  (a simulation closed, its temporary folder removed);
- is not daemonic, so that it may start workers of its own (a study's training cell training with
  rollout workers); its parent ends it explicitly (``stop`` or ``end_now``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

Handler = Callable[[Any], Any]
ORPHAN_CHECK_S = 0.5  # how often a worker checks that its parent is still there


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While workers run, SIGTERM raises ``KeyboardInterrupt`` as Ctrl-C does, so that the clean-up
    (ending the workers) runs instead of the process vanishing and leaving them behind."""
    if threading.current_thread() is not threading.main_thread():  # signals go to the main thread
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _serve(conn: Connection, handler: Handler) -> None:
    # One message at a time; None is the signal to exit.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit)
    parent = os.getppid()
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()
    with contextlib.suppress(EOFError, OSError):  # the parent went away: there is no one to answer
        while (message := conn.recv()) is not None:
            conn.send(handler(message))


def _exit(signum: int, frame: Any) -> None:
    sys.exit(128 + signum)


def _exit_when_orphaned(parent: int) -> None:
    """End this worker as soon as its parent is gone (killed without the chance to end its workers):
    work nobody will receive is not worth finishing."""
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_S)
    os._exit(1)


class WorkerProcess:
    """A spawned process answering each message sent to ``conn`` with ``handler(message)``.

    ``handler`` must be picklable (a module-level function or a ``functools.partial`` of one)."""

    def __init__(self, ctx: Any, handler: Handler) -> None:
        self.conn, child_conn = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child_conn, handler))
        self.process.start()
        child_conn.close()

    def stop(self) -> None:
        """Ask the worker to exit after its current message (it has none when all work is done)."""
        with contextlib.suppress(BrokenPipeError, OSError):
            self.conn.send(None)
        self._reap(timeout=10)

    def end_now(self) -> None:
        """End the worker at once, abandoning its work (SIGTERM; SIGKILL if that is not enough)."""
        self.process.terminate()
        self._reap(timeout=2)

    def _reap(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the worker to exit, kill it if it has not, close the pipe."""
        self.process.join(timeout=timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()
