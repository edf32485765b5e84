"""Several seeds of one run in parallel processes (libsumo runs one simulation per process),
and their aggregate."""

from __future__ import annotations

import multiprocessing
import os
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from ernie_traffic.training.config import TrainConfig
from ernie_traffic.training.loop import TrainResult, train
from ernie_traffic.utils.io import atomic_write_json


def train_seeds(
    config: TrainConfig, seeds: list[int], resume: bool = False, workers: int | None = None
) -> tuple[Path, list[TrainResult], dict[str, Any]]:
    """Train ``config`` once per seed under ``out_dir/run_name/seed<k>``; returns the parent
    folder, the results and the aggregate written to ``aggregate.json`` there."""
    parent = config.out_dir / config.run_family()
    workers = workers or min(len(seeds), os.cpu_count() or 1)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [
            pool.submit(train, config.model_copy(update={"seed": seed}), parent / f"seed{seed}", resume)
            for seed in seeds
        ]
        results = [f.result() for f in futures]
    aggregate = aggregate_evaluations(seeds, results)
    atomic_write_json(parent / "aggregate.json", aggregate)
    return parent, results, aggregate


def aggregate_evaluations(seeds: list[int], results: list[TrainResult]) -> dict[str, Any]:
    """Per controller and metric: mean and standard deviation over the seeds' evaluations."""
    evaluations = [r.evaluation for r in results if r.evaluation]
    summary: dict[str, Any] = {"seeds": seeds, "controllers": {}}
    if not evaluations:
        return summary
    for controller in evaluations[0]:
        per_seed = [e[controller]["mean"] for e in evaluations]
        summary["controllers"][controller] = {
            metric: {
                "mean": statistics.fmean(m[metric] for m in per_seed),
                "std": statistics.pstdev(m[metric] for m in per_seed),
            }
            for metric in per_seed[0]
        }
    return summary
