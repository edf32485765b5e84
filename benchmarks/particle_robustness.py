"""Reward versus observation noise: MADDPG, M3DDPG, Baseline-Gaussian and ERNIE (paper figure 3),
mean-field MADDPG versus mean-field ERNIE for N agents (paper figure 4), the ablation of mean-field
ERNIE's two terms (``--part ablation``: the Wasserstein term on the critic alone, the observation
term on the actor alone, both), mean-field ERNIE with hidden widths 32/64/128/256 (``--part
width``, paper figure 4d), and the particle learners on multi-drone hover (``--part drones``; run
with the drones extra's interpreter), over seeds.

Every (learner, seed) run is trained from scratch (a run already trained is kept, an interrupted one
resumes) under ``<out>/runs/``. Each group (e.g. ``particle N=3``) is then one lab stress sweep
(``ernie-traffic lab stress``, :mod:`ernie_traffic.lab.stress`) in ``<out>/<group>/``: every run
evaluated at each noise level (and ``--attack`` radius) on the same evaluation episodes, a learner's
training seeds pooled under its name, a random-policy reference, results streamed to
``results.jsonl`` (resumable) and rendered to ``report.html`` / ``report.md``. The printed tables
are read from those results: mean ± std over seeds, with ERNIE's margin over the baseline. New levels
need a fresh sweep: remove ``<out>/<group>/`` (the trained runs stay).

    nice python benchmarks/particle_robustness.py --out bench-out/particle --jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ernie_traffic.stress.summary import Summary

PARTICLE = ("maddpg", "m3ddpg", "gaussian", "ernie")
MEANFIELD = ("baseline", "ernie")
# label -> (mean-field learner, preset fields replaced): mean-field ERNIE with each term removed
ABLATION: dict[str, tuple[str, dict]] = {
    "baseline": ("baseline", {}),
    "ernie": ("ernie", {}),
    "ernie-wasserstein": ("ernie", {"regularizer": None}),
    "ernie-observation": ("ernie", {"mean_field_regularizer": None}),
}
TRAINED = "train.json"  # written into a run directory when its training has finished


def train_one(job: dict) -> None:
    """Train one learner with one seed unless done (resume an interrupted run); record its seconds."""
    import torch

    torch.set_num_threads(1)
    from ernie_traffic.lab.config import LabRunConfig
    from ernie_traffic.lab.train import train
    from ernie_traffic.runs import RunDirectory
    from ernie_traffic.utils.io import atomic_write_json

    run = RunDirectory(job["run"])
    if (run.path / TRAINED).is_file():
        return
    started, cpu_started = time.perf_counter(), time.process_time()
    if run.checkpoint.is_file():
        train(None, run.path, resume=True, quiet=True)
    else:
        train(LabRunConfig.model_validate(job["config"]), run.path, quiet=True)
    atomic_write_json(
        run.path / TRAINED,
        {
            "train_seconds": time.perf_counter() - started,
            "train_cpu_seconds": time.process_time() - cpu_started,
        },
    )


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
        if args.part == "ablation":
            for n in args.n_agents:
                env = {"n_agents": n, "nearest_neighbors": True}
                for label, (learner, removed) in ABLATION.items():
                    config = {"family": "meanfield", "learner": learner, "seed": seed, "env": env,
                              "algorithm": {**algorithm, **removed}, **common}  # fmt: skip
                    jobs.append(
                        _job(args, {"group": f"ablation N={n}", "learner": label, "seed": seed}, config)
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
                key = {"group": f"width N={args.n_agents[0]}", "learner": f"ernie-w{width}", "seed": seed}
                jobs.append(_job(args, key, config))
    return jobs


def _job(args: argparse.Namespace, key: dict, config: dict) -> dict:
    name = f"{_slug(key['group'])}-{key['learner']}-s{key['seed']}"
    return {"key": key, "config": config, "run": str(args.out / "runs" / name)}


def _slug(group: str) -> str:
    return group.replace(" ", "_").replace("=", "")


def stress_groups(args: argparse.Namespace, jobs: list[dict]) -> None:
    """One lab stress sweep and report per group; print its table."""
    from ernie_traffic.lab.stress import lab_sweep
    from ernie_traffic.stress import run_sweep
    from ernie_traffic.stress.report import write_report
    from ernie_traffic.stress.summary import summarize
    from ernie_traffic.stress.sweep import expand_cells, latest_records

    for group in dict.fromkeys(job["key"]["group"] for job in jobs):
        trained = [j for j in jobs if j["key"]["group"] == group and (Path(j["run"]) / TRAINED).is_file()]
        if not trained:
            continue
        learners = list(dict.fromkeys(j["key"]["learner"] for j in trained))
        pools = {
            learner: [j["run"] for j in trained if j["key"]["learner"] == learner] for learner in learners
        }
        controllers = [f"{learner}={','.join(runs)}" for learner, runs in pools.items()]
        sweep = lab_sweep(controllers, args.noise, args.attack, args.eval_seeds, args.eval_episodes)
        out = args.out / _slug(group)
        run_sweep(sweep, out, workers=args.jobs)
        html_path, _ = write_report(out)
        summary = summarize(sweep, latest_records(out), {c.key for c in expand_cells(sweep)})
        print(summarise(group, summary, pools, args.noise))
        print(f"report: {html_path}")


def summarise(group: str, summary: Summary, pools: dict[str, list[str]], noise: list[float]) -> str:
    """The group's table: mean ± std of the return over seeds at each σ, the random floor, ERNIE's margin."""
    metric = "episode_return"
    levels = sorted(set(noise) | {0.0})
    by_label = {c.partition("=")[0]: c for c in summary.sweep.controllers}
    lines = [f"\n### {group}  (mean ± std of the mean per-agent episode return over seeds)\n"]
    lines.append("| learner | seeds | train CPU s | " + " | ".join(f"σ={x:g}" for x in levels) + " |")
    lines.append("|---|---|---|" + "---|" * len(levels))
    means = {}
    for learner, runs in pools.items():
        stats = [
            summary.baseline(by_label[learner], metric)
            if level == 0
            else summary.stat(by_label[learner], "observation_noise", level, metric)
            for level in levels
        ]
        means[learner] = np.array([s.mean if s else np.nan for s in stats])
        cells = " | ".join(f"{s.mean:.2f} ± {s.std:.2f}" if s else "–" for s in stats)
        seconds = np.mean([json.loads((Path(r) / TRAINED).read_text())["train_cpu_seconds"] for r in runs])
        lines.append(f"| {learner} | {len(runs)} | {seconds:.0f} | {cells} |")
    floor = summary.baseline("random", metric)
    lines.append(f"| random policy | | | {floor.mean:.2f} (any σ) |" + " |" * (len(levels) - 1))
    baseline = "baseline" if group.startswith(("meanfield", "ablation")) else "maddpg"
    ernies = [learner for learner in means if learner.startswith("ernie")] if baseline in means else []
    for ernie in ernies:
        margin = means[ernie] - means[baseline]
        lines.append(f"| {ernie} − {baseline} | | | " + " | ".join(f"{m:+.2f}" for m in margin) + " |")
    for ernie in ernies:
        below = [f"{x:g}" for x, m in zip(levels, means[ernie] - means[baseline], strict=True) if not m > 0]
        above = "yes" if not below else f"no (below at σ = {', '.join(below)})"
        lines.append(f"\n{ernie}'s mean curve above {baseline}'s at every noise level: {above}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-out/particle"))
    parser.add_argument(
        "--part",
        choices=("particle", "meanfield", "all", "ablation", "width", "drones"),
        default="all",
        help="all = particle + meanfield; ablation = mean-field baseline, ERNIE, and ERNIE with only its "
        "Wasserstein or only its observation term, at each --n-agents; width = mean-field ERNIE at each "
        "--widths (N = first --n-agents); drones = the particle learners on 2-drone hover",
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=1500, help="training episodes per run")
    parser.add_argument("--updates-per-episode", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--n-agents", type=int, nargs="+", default=[3, 6, 10])
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.5, 1.0, 1.5])
    parser.add_argument("--eval-episodes", type=int, default=20, help="episodes per evaluation cell")
    parser.add_argument("--eval-seeds", type=int, nargs="+", default=[0], help="evaluation seeds (cells)")
    parser.add_argument(
        "--attack", type=float, nargs="*", default=[], help="ℓ2 radii of the core's observation attack"
    )
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    parser.add_argument(
        "--no-train", action="store_true", help="only evaluate and summarise the runs already trained"
    )
    args = parser.parse_args()
    jobs = jobs_for(args)
    started = time.perf_counter()
    if not args.no_train:
        with ProcessPoolExecutor(args.jobs) as pool:
            list(pool.map(train_one, jobs))
    print(f"{len(jobs)} runs, {time.perf_counter() - started:.0f} s wall training, {args.jobs} processes")
    stress_groups(args, jobs)


if __name__ == "__main__":
    main()
