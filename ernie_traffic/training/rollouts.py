"""Rollout workers: exploring episodes of an off-policy learner, played in parallel processes.

libsumo allows one simulation per process, so ``TrainConfig.rollout_workers`` > 1 trains in rounds:
the round's episodes are played at once, one per spawned worker process (one torch thread each,
as every toolkit process: ``ernie_traffic.runs``), each acting with the learner's explorer
(``Algorithm.explorer``) on a snapshot of the learner's policy taken at the round's start. The main
process then hands their transitions to the learner in episode order. Jobs and results cross the
pipes as plain pickles (torch's own multiprocessing would move every tensor into shared memory,
slower for these small messages).
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from multiprocessing.connection import wait
from types import TracebackType
from typing import Any

import torch

from ernie_traffic.algorithms import Transition, get_algorithm
from ernie_traffic.envs.traffic import TrafficEnvConfig, TrafficSignalEnv
from ernie_traffic.models.networks import MultiAgentSpec
from ernie_traffic.training.episodes import play_episode
from ernie_traffic.utils.processes import WorkerProcess


@dataclass
class Rollout:
    """An exploring episode played by a worker: its record (return, steps, traffic metrics) and its
    transitions, stacked into one batch (:meth:`Transition.stack`)."""

    record: dict[str, Any]
    steps: Transition

    def transitions(self) -> Iterator[Transition]:
        for step in range(self.record["steps"]):
            values = {f.name: getattr(self.steps, f.name)[step] for f in fields(Transition)}
            yield Transition(**{**values, "terminal": float(values["terminal"])})


def explore_episode(
    algo: str,
    spec: MultiAgentSpec,
    algo_config: Any,
    policy_state: dict[str, torch.Tensor],
    first_step: int,
    explorer_seed: int,
    env_config: TrafficEnvConfig,
    sumo_seed: int,
    reward_scale: float,
) -> Rollout:
    """A worker's job: one exploring episode with ``algo``'s explorer on ``policy_state``."""
    explorer = get_algorithm(algo).explorer(spec, algo_config, policy_state, first_step, explorer_seed)
    transitions: list[Transition] = []
    env = TrafficSignalEnv(env_config)
    try:
        obs, _ = env.reset(seed=sumo_seed)
        record = play_episode(env, spec, obs, explorer.act, reward_scale, transitions.append)
    finally:
        env.close()
    return Rollout(record, Transition.stack(transitions))


def _run_job(payload: bytes) -> bytes:
    """In a worker: run one pickled ``(function, arguments)``; its pickled result or error."""
    function, args = pickle.loads(payload)
    try:
        return pickle.dumps((True, function(*args)))
    except Exception as exc:  # raised again in the main process, with the worker's traceback
        return pickle.dumps((False, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"))


class RolloutWorkerError(RuntimeError):
    """A rollout worker's job failed, or its process died."""


class RolloutPool:
    """``workers`` spawned processes, kept across rounds, running jobs (a module-level function and
    its arguments) as they free up; ``result`` waits for one job's result. Leaving the ``with``
    block ends the workers: at once when work is still running (an interrupt, an error, or jobs
    nobody will collect), otherwise after their last job."""

    def __init__(self, workers: int) -> None:
        context = mp.get_context("spawn")
        self._workers = [WorkerProcess(context, _run_job) for _ in range(workers)]
        self._queue: deque[tuple[int, bytes]] = deque()
        self._running: dict[WorkerProcess, int] = {}  # worker -> job
        self._results: dict[int, Any] = {}
        self._next_job = 0

    def submit(self, function: Callable[..., Any], *args: Any) -> int:
        """Queue ``function(*args)``; returns the job's number for :meth:`result`."""
        job = self._next_job
        self._next_job += 1
        self._queue.append((job, pickle.dumps((function, args))))
        self._dispatch()
        return job

    def result(self, job: int) -> Any:
        """Wait for ``job`` (keeping the other workers busy meanwhile) and return its result."""
        while job not in self._results:
            if not self._running:
                raise ValueError(f"job {job} was never submitted or its result was already taken")
            handles = {w.conn: w for w in self._running} | {w.process.sentinel: w for w in self._running}
            for handle in wait(list(handles)):
                worker = handles[handle]
                if worker not in self._running:  # already answered through its other handle
                    continue
                try:
                    done, value = pickle.loads(worker.conn.recv()) if worker.conn.poll() else (None, None)
                except (EOFError, OSError):  # the pipe closed: the process is ending
                    done, value = None, None
                if done is None:
                    worker.process.join(timeout=5)
                    raise RolloutWorkerError(f"rollout worker died (exit code {worker.process.exitcode})")
                if not done:
                    raise RolloutWorkerError(f"rollout job failed: {value}")
                self._results[self._running.pop(worker)] = value
            self._dispatch()
        return self._results.pop(job)

    def _dispatch(self) -> None:
        for worker in self._workers:
            if worker not in self._running and self._queue:
                job, payload = self._queue.popleft()
                worker.conn.send(payload)
                self._running[worker] = job

    def __enter__(self) -> RolloutPool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        idle = kind is None and not self._running and not self._queue
        for worker in self._workers:
            if idle:
                worker.stop()
            else:
                worker.end_now()
