"""Quality of trained controllers: each learner × training seed trained on a network, then evaluated
beside every classical controller (actuated, max-pressure, Webster, fixed-time) on the same
evaluation seeds, all under the same cabinet timing.

Every run keeps its own result file (``OUT/<network>/<algo>-<reg>/seed<k>/result.json``), so a
killed benchmark continues where it stopped (a run in progress resumes from its checkpoint) and the
table is assembled from whatever results exist. Learned rows: mean ± std over training seeds, the
worst seed, CPU-minutes per run. RESCO's published delays are printed for reference only: their
stack (SUMO 1.9, 10 s decisions) differs; the classical rows measured here are the comparison.

    PYTHONPATH=$PWD:$PWD/deploy python benchmarks/train_quality.py --networks grid2x2 \\
        --learners qcombo:none,qcombo:ernie --seeds 0,1,2 --out bench-out/train-quality
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ernie_traffic.controllers import classical_controller
from ernie_traffic.controllers.classical import CLASSICAL
from ernie_traffic.controllers.learned import load_controller, save_policy
from ernie_traffic.envs.traffic import TrafficEnvConfig
from ernie_traffic.evaluation import evaluate, evaluation_seeds
from ernie_traffic.runs import RunDirectory
from ernie_traffic.stress.runner import run_cells
from ernie_traffic.stress.sweep import RESULTS_FILE, latest_records
from ernie_traffic.training.config import TrainConfig
from ernie_traffic.training.loop import train
from ernie_traffic.utils.io import atomic_write_json

# RESCO (Ault & Sharon 2021) best published mean delay in s (anchors.md)
RESCO_BEST = {"grid4x4": 34, "cologne8": 22, "ingolstadt7": 31}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class BudgetSpent(Exception):
    pass


def train_and_evaluate(
    config: TrainConfig, run_dir: Path, eval_seeds: list[int], budget_minutes: float | None
) -> dict[str, Any]:
    """One learner × seed: train (resuming a checkpoint if one is there) for ``config.episodes`` or
    until the episode during which ``budget_minutes`` of CPU are spent, evaluate, save result.json."""
    import torch

    torch.set_num_threads(1)
    result_file = run_dir / "result.json"
    if result_file.is_file():
        return json.loads(result_file.read_text())
    began = cpu_seconds()

    def on_episode(record: dict) -> None:
        if budget_minutes is not None and cpu_seconds() - began >= budget_minutes * 60:
            raise BudgetSpent

    resume = (run_dir / "checkpoint.pt").is_file()
    try:
        train(config, run_dir, resume=resume, on_episode=on_episode)
    except BudgetSpent:  # keep the policy train() would have kept: the best validated one
        run = RunDirectory(run_dir)
        checkpoint = run.load_checkpoint()
        save_policy(run, (checkpoint["best"] or checkpoint)["policy"])
    metrics = RunDirectory(run_dir).read_metrics()
    evaluation = evaluate(load_controller(run_dir), config.env, eval_seeds)
    result = {
        "seed": config.seed,
        "episodes": len(metrics),
        "cpu_minutes": (cpu_seconds() - began) / 60,  # this session's share if it was resumed
        "mean_delay": evaluation["mean"]["mean_delay"],
        "episodes_eval": evaluation["episodes"],
    }
    atomic_write_json(result_file, result)
    return result


def classical_delays(
    names: list[str], network: str, env: TrafficEnvConfig, seeds: list[int], work_dir: Path
) -> dict[str, float]:
    """Each named classical controller's mean delay over ``seeds`` (the same episodes as the learners')."""
    return {
        name: evaluate(classical_controller(name, network, work_dir=work_dir), env, seeds)["mean"][
            "mean_delay"
        ]
        for name in names
    }


@dataclass(frozen=True)
class QualityCell:
    """One unit of the benchmark's work, run in a worker process: a learner × seed trained and
    evaluated (``config`` set) or a network's classical controllers evaluated (``config`` None)."""

    key: str
    network: str
    env: dict[str, Any]
    out: str  # the run directory, or the network's folder for the classical controllers
    eval_seeds: list[int]
    config: dict[str, Any] | None = None
    budget_minutes: float | None = None


def run_quality_cell(cell: QualityCell) -> dict[str, Any]:
    out = Path(cell.out)
    if cell.config is not None:
        config = TrainConfig.model_validate(cell.config)
        return train_and_evaluate(config, out, cell.eval_seeds, cell.budget_minutes)
    result_file = out / "classical.json"
    if not result_file.is_file():
        env = TrafficEnvConfig.model_validate(cell.env)
        atomic_write_json(
            result_file, classical_delays(list(CLASSICAL), cell.network, env, cell.eval_seeds, out)
        )
    return json.loads(result_file.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default="grid2x2", help="comma-separated networks")
    parser.add_argument(
        "--learners",
        default="qcombo:none,qcombo:ernie",
        help="algo:reg pairs, each optionally :episodes (e.g. coma:none:40; default: --episodes)",
    )
    parser.add_argument("--seeds", default="0,1,2", help="training seeds")
    parser.add_argument("--config", type=Path, default=None, help="TrainConfig YAML the runs start from")
    parser.add_argument("--episodes", type=int, default=None, help="training episodes (default: config's)")
    parser.add_argument("--budget-minutes", type=float, default=None, help="stop a run after this CPU time")
    parser.add_argument("--eval-seeds", type=int, default=3, help="evaluation episodes per controller")
    parser.add_argument("--workers", type=int, default=2, help="runs trained in parallel processes")
    parser.add_argument("--out", type=Path, default=Path("bench-out/train-quality"))
    args = parser.parse_args()
    from ernie_traffic.utils.config_files import load_config

    base = load_config(TrainConfig, args.config) if args.config else TrainConfig()
    eval_seeds = evaluation_seeds(args.eval_seeds)
    seeds = [int(s) for s in args.seeds.split(",")]
    learner_episodes = {}
    for spec in filter(None, args.learners.split(",")):
        algo, reg, *episodes = spec.split(":")
        learner_episodes[algo, reg] = int(episodes[0]) if episodes else args.episodes
    learners = list(learner_episodes)
    networks = args.networks.split(",")
    cells = []
    for network in networks:
        env = base.env.model_copy(update={"network": network})
        common = {"network": network, "env": env.model_dump(mode="json"), "eval_seeds": eval_seeds}
        cells.append(QualityCell(key=f"{network}|classical", out=str(args.out / network), **common))
        for algo, reg in learners:
            for seed in seeds:
                update = {"env": env, "algo": algo, "reg": reg, "seed": seed, "eval_episodes": 0}
                if learner_episodes[algo, reg]:
                    update["episodes"] = learner_episodes[algo, reg]
                config = base.model_copy(update=update).model_dump(mode="json")
                run_dir = args.out / network / f"{algo}-{reg}" / f"seed{seed}"
                key = f"{network}|{algo}-{reg}|seed{seed}"
                cells.append(
                    QualityCell(
                        key, out=str(run_dir), config=config, budget_minutes=args.budget_minutes, **common
                    )
                )
    # the library's cell runner: one worker process per cell at a time, stopped with the benchmark
    # (Ctrl-C or SIGTERM), a failed cell retried once; each cell keeps its own result file
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        run_cells(cells, args.out / RESULTS_FILE, run_quality_cell, workers=args.workers)
    except KeyboardInterrupt:
        raise SystemExit(
            f"interrupted: finished runs are kept in {args.out}; the same command continues"
        ) from None
    outcome = {record["key"]: record for record in latest_records(args.out)}
    if failed := [cell.key for cell in cells if outcome[cell.key]["status"] != "ok"]:
        raise SystemExit(
            f"error: {len(failed)} cells failed ({', '.join(failed)}); see {args.out / RESULTS_FILE}"
        )
    classical = {network: outcome[f"{network}|classical"]["metrics"] for network in networks}
    results = {
        (network, algo, reg, seed): outcome[f"{network}|{algo}-{reg}|seed{seed}"]["metrics"]
        for network in networks
        for algo, reg in learners
        for seed in seeds
    }
    for network, baselines in classical.items():
        best_name = min(baselines, key=baselines.get)
        best = baselines[best_name]
        print(f"\n{network}: mean delay (s), {len(eval_seeds)} evaluation episodes, cabinet timing")
        header = ("mean ± std", "worst seed", "vs best classical", "CPU-min/run")
        print(f"{'controller':24s} {header[0]:>14s} {header[1]:>10s} {header[2]:>17s} {header[3]:>11s}")
        for algo, reg in learners:
            runs = [results[network, algo, reg, s] for s in seeds]
            delays = [r["mean_delay"] for r in runs]
            mean, std = statistics.fmean(delays), statistics.stdev(delays) if len(delays) > 1 else 0.0
            cpu = statistics.fmean(r["cpu_minutes"] for r in runs)
            print(
                f"{algo + '/' + reg:24s} {mean:7.1f} ± {std:4.1f} {max(delays):10.1f}"
                f" {(mean - best) / best * 100:+16.1f}% {cpu:11.1f}"
            )
        for name, delay in sorted(baselines.items(), key=lambda item: item[1]):
            print(f"{name:24s} {delay:7.1f}{'':7s} {'':10s} {(delay - best) / best * 100:+16.1f}%")
        if network in RESCO_BEST:
            print(f"{'RESCO best published':24s} {RESCO_BEST[network]:7.1f}")
        print(f"(seeds {args.seeds}; runs and result files in {args.out / network})")


if __name__ == "__main__":
    main()
