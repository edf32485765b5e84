"""Reward versus observation noise: MADDPG, M3DDPG, Baseline-Gaussian and ERNIE (paper figure 3),
mean-field MADDPG versus mean-field ERNIE for N agents (paper figure 4), and mean-field ERNIE
with hidden widths 32/64/128/256 (``--part width``, paper figure 4d), and the particle learners on
multi-drone hover (``--part drones``; run with the drones extra's interpreter), over seeds.

Every (learner, seed) run is trained from scratch, then evaluated at each noise level on the same
evaluation episodes; results are written per run (so an interrupted benchmark resumes) and
summarised as mean ± std over seeds, with ERNIE's margin over the baseline at each level.

    nice python benchmarks/particle_robustness.py --out bench-out/particle --jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

PARTICLE = ("maddpg", "m3ddpg", "gaussian", "ernie")
MEANFIELD = ("baseline", "ernie")


def run_one(job: dict) -> dict | None:
    """Train one learner with one seed (unless done), then evaluate the noise levels not yet measured.

    The result file caches the sweep; the run directory beside it keeps the trained checkpoint, so
    new noise levels are evaluated without retraining. ``job['train']`` False skips untrained runs.
    """
    import torch

    torch.set_num_threads(1)
    from ernie_traffic.lab.config import LabRunConfig
    from ernie_traffic.lab.evaluate import noise_sweep
    from ernie_traffic.lab.train import load_learner, train
    from ernie_traffic.utils.io import atomic_write_json

    result_path = Path(job["result"])
    run_dir = result_path.parent / result_path.stem
    if result_path.exists():
        result = json.loads(result_path.read_text())
        _, learner = load_learner(run_dir)
    elif not job["train"]:
        return None
    else:
        config = LabRunConfig.model_validate(job["config"])
        started = time.perf_counter()
        learner = train(config, run_dir, quiet=True)
        result = {**job["key"], "train_seconds": time.perf_counter() - started, "sweep": []}
    measured = {row["noise"] for row in result["sweep"]}
    missing = [level for level in job["noise"] if level not in measured]
    if missing:
        env = LabRunConfig.model_validate(job["config"]).env
        result["sweep"] += noise_sweep(
            learner, env, missing, job["eval_episodes"], seed=10_000 + job["key"]["seed"]
        )
        atomic_write_json(result_path, result)
    by_level = {row["noise"]: row for row in result["sweep"]}
    return {**result, "sweep": [by_level[level] for level in job["noise"]]}


def jobs_for(args: argparse.Namespace) -> list[dict]:
    common = {"episodes": args.episodes, "updates_per_episode": args.updates_per_episode}
    algorithm = {"hidden": args.hidden, "batch_size": args.batch_size}
    jobs = []
    for seed in range(args.seeds):
        if args.part in ("particle", "all"):
            for learner in PARTICLE:
                config = {
                    "family": "particle",
                    "learner": learner,
                    "seed": seed,
                    "algorithm": algorithm,
                    **common,
                }
                jobs.append(_job(args, {"group": "particle N=3", "learner": learner, "seed": seed}, config))
        if args.part in ("meanfield", "all"):
            for n in args.n_agents:
                for learner in MEANFIELD:
                    env = {"n_agents": n, "nearest_neighbors": True}
                    config = {"family": "meanfield", "learner": learner, "seed": seed, "env": env,
                              "algorithm": algorithm, **common}  # fmt: skip
                    jobs.append(
                        _job(args, {"group": f"meanfield N={n}", "learner": learner, "seed": seed}, config)
                    )
        if args.part == "drones":
            for learner in PARTICLE:
                config = {"family": "drones", "learner": learner, "seed": seed, "env": {"n_drones": 2},
                          "algorithm": algorithm, **common}  # fmt: skip
                jobs.append(_job(args, {"group": "drones N=2", "learner": learner, "seed": seed}, config))
        if args.part == "width":
            # `hidden` is the width of both hidden layers of the actor and of the critic.
            env = {"n_agents": args.n_agents[0], "nearest_neighbors": True}
            for width in args.widths:
                config = {"family": "meanfield", "learner": "ernie", "seed": seed, "env": env,
                          "algorithm": {**algorithm, "hidden": width}, **common}  # fmt: skip
                key = {"group": f"width={width} N={args.n_agents[0]}", "learner": "ernie", "seed": seed}
                jobs.append(_job(args, key, config))
    return jobs


def _job(args: argparse.Namespace, key: dict, config: dict) -> dict:
    name = f"{key['group'].replace(' ', '_').replace('=', '')}-{key['learner']}-s{key['seed']}.json"
    return {
        "key": key,
        "config": config,
        "noise": args.noise,
        "eval_episodes": args.eval_episodes,
        "result": str(args.out / name),
        "train": not args.no_train,
    }


def random_floor(jobs: list[dict]) -> dict[str, float]:
    """Mean return of uniformly random actions per group (the same for every noise level)."""
    from ernie_traffic.lab.config import LabRunConfig
    from ernie_traffic.lab.evaluate import random_policy_returns

    floors = {}
    for job in jobs:
        group = job["key"]["group"]
        if group not in floors:
            env = LabRunConfig.model_validate(job["config"]).env
            floors[group] = float(random_policy_returns(env, job["eval_episodes"], seed=10_000).mean())
    return floors


def summarise(results: list[dict], noise: list[float], floors: dict[str, float]) -> str:
    lines = []
    groups = sorted(
        {r["group"] for r in results},
        key=lambda g: (not g.startswith("particle"), g.split("=")[0], int(g.split("=")[1].split()[0])),
    )
    for group in groups:
        rows = [r for r in results if r["group"] == group]
        learners = list(dict.fromkeys(r["learner"] for r in rows))
        baseline = "baseline" if group.startswith("meanfield") else "maddpg"
        lines.append(f"\n### {group}  (mean ± std of the mean per-agent episode return over seeds)\n")
        lines.append("| learner | seeds | train s | " + " | ".join(f"σ={x:g}" for x in noise) + " |")
        lines.append("|---|---|---|" + "---|" * len(noise))
        means = {}
        for learner in learners:
            runs = [r for r in rows if r["learner"] == learner]
            curve = np.array([[p["mean_return"] for p in r["sweep"]] for r in runs])
            means[learner] = curve.mean(axis=0)
            cells = " | ".join(f"{m:.2f} ± {s:.2f}" for m, s in zip(curve.mean(0), curve.std(0), strict=True))
            seconds = np.mean([r["train_seconds"] for r in runs])
            lines.append(f"| {learner} | {len(runs)} | {seconds:.0f} | {cells} |")
        lines.append(f"| random policy | | | {floors[group]:.2f} (any σ) |" + " |" * (len(noise) - 1))
        if "ernie" in means and baseline in means:
            margin = means["ernie"] - means[baseline]
            lines.append(f"| ERNIE − {baseline} | | | " + " | ".join(f"{m:+.2f}" for m in margin) + " |")
            above = (
                "yes"
                if (margin > 0).all()
                else f"no (below at σ = {', '.join(f'{x:g}' for x in np.array(noise)[margin <= 0])})"
            )
            lines.append(f"\nERNIE's mean curve above {baseline}'s at every noise level: {above}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-out/particle"))
    parser.add_argument(
        "--part",
        choices=("particle", "meanfield", "all", "width", "drones"),
        default="all",
        help="all = particle + meanfield; width = mean-field ERNIE at each --widths (N = first --n-agents); "
        "drones = the particle learners on 2-drone hover",
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=1500, help="training episodes per run")
    parser.add_argument("--updates-per-episode", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--n-agents", type=int, nargs="+", default=[3, 6, 10])
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.5, 1.0, 1.5])
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    parser.add_argument(
        "--no-train", action="store_true", help="only evaluate and summarise the runs already trained"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = jobs_for(args)
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        results = [r for r in pool.map(run_one, jobs) if r is not None]
    print(f"{len(results)} runs, {time.perf_counter() - started:.0f} s wall, {args.jobs} processes")
    print(summarise(results, args.noise, random_floor(jobs)))


if __name__ == "__main__":
    main()
