"""Reward versus observation noise: MADDPG, M3DDPG, Baseline-Gaussian and ERNIE (paper figure 3),
and mean-field MADDPG versus mean-field ERNIE for N agents (paper figure 4), over seeds.

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


def run_one(job: dict) -> dict:
    """Train one learner with one seed, then sweep the noise levels; cached in ``job['result']``."""
    import torch

    torch.set_num_threads(1)
    from ernie_traffic.lab.config import LabRunConfig
    from ernie_traffic.lab.evaluate import noise_sweep
    from ernie_traffic.lab.train import train
    from ernie_traffic.utils.io import atomic_write_json

    result_path = Path(job["result"])
    if result_path.exists():
        return json.loads(result_path.read_text())
    config = LabRunConfig.model_validate(job["config"])
    started = time.perf_counter()
    learner = train(config, result_path.parent / result_path.stem, quiet=True)
    train_seconds = time.perf_counter() - started
    sweep = noise_sweep(learner, config.env, job["noise"], job["eval_episodes"], seed=10_000 + config.seed)
    result = {**job["key"], "train_seconds": train_seconds, "sweep": sweep}
    atomic_write_json(result_path, result)
    return result


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
    return jobs


def _job(args: argparse.Namespace, key: dict, config: dict) -> dict:
    name = f"{key['group'].replace(' ', '_').replace('=', '')}-{key['learner']}-s{key['seed']}.json"
    return {
        "key": key,
        "config": config,
        "noise": args.noise,
        "eval_episodes": args.eval_episodes,
        "result": str(args.out / name),
    }


def summarise(results: list[dict], noise: list[float]) -> str:
    lines = []
    groups = sorted(
        {r["group"] for r in results}, key=lambda g: (g.startswith("meanfield"), int(g.split("=")[1]))
    )
    for group in groups:
        rows = [r for r in results if r["group"] == group]
        learners = list(dict.fromkeys(r["learner"] for r in rows))
        baseline = "maddpg" if group.startswith("particle") else "baseline"
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
    parser.add_argument("--part", choices=("particle", "meanfield", "all"), default="all")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=1500, help="training episodes per run")
    parser.add_argument("--updates-per-episode", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--n-agents", type=int, nargs="+", default=[3, 6, 10])
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.2, 0.3, 0.5])
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    parser.add_argument("--summarise-only", action="store_true", help="only summarise finished runs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = jobs_for(args)
    started = time.perf_counter()
    if args.summarise_only:
        results = [json.loads(Path(j["result"]).read_text()) for j in jobs if Path(j["result"]).exists()]
    else:
        with ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(run_one, jobs))
    print(f"{len(results)} runs, {time.perf_counter() - started:.0f} s wall, {args.jobs} processes")
    print(summarise(results, args.noise))


if __name__ == "__main__":
    main()
