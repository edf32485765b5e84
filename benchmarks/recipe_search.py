"""A small search over training recipes, chosen on validation seeds and reported on evaluation seeds.

A search file names the network, the training seeds, the classical controllers to compare with, the
TrainConfig fields every variant starts from (``base``) and each variant's changes to them::

    network: grid2x2
    seeds: [0, 1, 2]
    baselines: [max-pressure, actuated]
    base: {reg: none, episodes: 10, qcombo: {epsilon_decay_steps: 3600}}
    variants:
      whole-lane: {env: {detector_length: null}}
      100m: {env: {detector_length: 100}}

Every variant × seed is trained (one validation episode after each training episode picks the kept
policy) and evaluated on the evaluation seeds; the classical controllers run on both the validation
seed and the evaluation seeds, so a variant is chosen on the validation column against the same
controllers it is later reported against. A finished run keeps ``search.json`` and is not trained
again, so a killed search continues where it stopped.

    PYTHONPATH=$PWD:$PWD/deploy python benchmarks/recipe_search.py benchmarks/searches/consistency.yaml
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from train_quality import classical_delays, cpu_seconds  # this folder is on the path of a script run from it

from ernie_traffic.controllers.learned import load_controller
from ernie_traffic.envs.traffic import TrafficEnvConfig
from ernie_traffic.evaluation import evaluate, evaluation_seeds, validation_seeds
from ernie_traffic.runs import RunDirectory
from ernie_traffic.training.config import TrainConfig
from ernie_traffic.training.loop import train
from ernie_traffic.utils.config_files import read_mapping
from ernie_traffic.utils.io import atomic_write_json


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied, nested sections merged key by key."""
    out = dict(base)
    for key, value in changes.items():
        out[key] = merged(out.get(key) or {}, value) if isinstance(value, dict) and value else value
    return out


def run_variant(search: dict[str, Any], name: str, seed: int, out: Path) -> dict[str, Any]:
    """Train and evaluate one variant × seed (or load its finished result)."""
    run = RunDirectory(out / f"{name}-seed{seed}")
    result_file = run.path / "search.json"
    if result_file.is_file():
        return json.loads(result_file.read_text())
    fields = merged(search.get("base", {}), search["variants"][name] or {})
    where = {"out_dir": str(out), "name": run.path.name, "env": {"network": search["network"]}}
    fields = merged(fields, {"seed": seed, "eval_episodes": 0, "baselines": [], **where})
    config = TrainConfig.model_validate(fields)
    began = cpu_seconds()
    train(config, resume=run.checkpoint.is_file())
    evaluation = evaluate(load_controller(run.path), config.env, evaluation_seeds(search["eval_episodes"]))
    validation = [m["validation_delay"] for m in run.read_metrics()]
    result = {
        "best_validation": min(validation),
        "last3_validation": statistics.fmean(validation[-3:]),
        "evaluation": evaluation["mean"]["mean_delay"],
        "cpu_s": cpu_seconds() - began,
    }
    atomic_write_json(result_file, result)
    return result


def classical(search: dict[str, Any], out: Path) -> dict[str, dict[str, float]]:
    """Each classical controller's mean delay on the validation seed and on the evaluation seeds."""
    result_file = out / "classical.json"
    if result_file.is_file():
        return json.loads(result_file.read_text())
    env = TrafficEnvConfig.model_validate(
        merged(search.get("base", {}).get("env", {}), {"network": search["network"]})
    )
    by_split = {
        split: classical_delays(search["baselines"], search["network"], env, seeds, out)
        for split, seeds in (
            ("validation", validation_seeds(1)),
            ("evaluation", evaluation_seeds(search["eval_episodes"])),
        )
    }
    results = {
        name: {split: delays[name] for split, delays in by_split.items()} for name in search["baselines"]
    }
    atomic_write_json(result_file, results)
    return results


def spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:6.2f}"
    return f"{statistics.fmean(values):6.2f} ± {statistics.stdev(values):4.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("search", type=Path, help="search file (see the module docstring)")
    parser.add_argument("--out", type=Path, default=None, help="default: bench-out/<search file name>")
    args = parser.parse_args()
    search = {"eval_episodes": 2, "baselines": ["max-pressure"], **read_mapping(args.search)}
    out = args.out or Path("bench-out") / args.search.stem
    baselines = classical(search, out)
    rows = {name: [run_variant(search, name, s, out) for s in search["seeds"]] for name in search["variants"]}
    print(f"{search['network']}, training seeds {search['seeds']}: mean delay (s), mean ± std over seeds")
    header = ("best validation", "last-3 validation", "evaluation", "worst seed", "CPU-s/run")
    print(f"{'variant':22s}", *(f"{h:>17s}" for h in header))
    for name, results in rows.items():
        column = {key: [r[key] for r in results] for key in results[0]}
        print(
            f"{name:22s} {spread(column['best_validation']):>17s} {spread(column['last3_validation']):>17s} "
            f"{spread(column['evaluation']):>17s} {max(column['evaluation']):17.2f} "
            f"{statistics.fmean(column['cpu_s']):17.0f}"
        )
    for name, delays in baselines.items():
        print(f"{name:22s} {delays['validation']:17.2f} {'':17s} {delays['evaluation']:17.2f}")
    evaluation = f"{search['eval_episodes']} evaluation seeds"
    print(f"(validation seed {validation_seeds(1)[0]}; {evaluation}; runs in {out})")


if __name__ == "__main__":
    main()
