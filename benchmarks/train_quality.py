"""Quality of trained controllers: each learner trained within a CPU-time budget, then evaluated
beside the classical controllers on the same seeds of its training network.

Goal on grid2x2: QCOMBO and ERNIE-QCOMBO trained within 15 CPU-minutes each reduce mean delay by
≥ 20 % against fixed-time. On cologne8 / ingolstadt7 the RESCO published delays (anchors.md) are
printed beside ours for reference; our stack (SUMO 1.28, 5 s decisions) differs from RESCO's, so
the classical controllers measured here in the same run are the comparison that counts.

    PYTHONPATH=$PWD:$PWD/deploy python benchmarks/train_quality.py --networks grid2x2 --budget-minutes 15
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import torch

from ernie_traffic.controllers import classical_controller, load_controller
from ernie_traffic.envs.traffic import TrafficEnvConfig
from ernie_traffic.evaluation import evaluate, evaluation_seeds
from ernie_traffic.training.config import TrainConfig
from ernie_traffic.training.loop import train
from ernie_traffic.training.run_dir import RunDirectory

# RESCO (Ault & Sharon 2021) mean delay in s, read off the published figure (anchors.md)
RESCO_DELAY = {
    "cologne8": {"fixed-time": 63, "max-pressure": 22, "best learned (IDQN/IPPO)": 22},
    "ingolstadt7": {"fixed-time": 91, "max-pressure": 80.5, "best learned (IPPO)": 31},
}
CLASSICAL = ("fixed-time", "actuated", "max-pressure", "webster")


class BudgetSpent(Exception):
    pass


def train_within(config: TrainConfig, budget_s: float, run_dir: Path) -> tuple[int, float]:
    """Train until the episode during which this process's CPU time passes ``budget_s``."""
    start = time.process_time()

    def on_episode(record: dict) -> None:
        if time.process_time() - start >= budget_s:
            raise BudgetSpent

    with contextlib.suppress(BudgetSpent):
        train(config, run_dir, on_episode=on_episode)
    episodes = len(RunDirectory(run_dir).read_metrics())
    return episodes, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default="grid2x2", help="comma-separated networks")
    parser.add_argument(
        "--learners", default="qcombo:none,qcombo:ernie", help="algo:reg pairs (empty: classical only)"
    )
    parser.add_argument("--budget-minutes", type=float, default=15.0, help="CPU minutes per learner")
    parser.add_argument("--eval-seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here (default: a temp folder)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = evaluation_seeds(args.eval_seeds)
    out = args.out or Path(tempfile.mkdtemp(prefix="train-quality-"))
    for network in args.networks.split(","):
        env_config = TrafficEnvConfig(network=network)
        rows = {}
        for name in CLASSICAL:
            rows[name] = evaluate(classical_controller(name, network, work_dir=out), env_config, seeds)[
                "mean"
            ]
        for learner in filter(None, args.learners.split(",")):
            algo, reg = learner.split(":")
            config = TrainConfig.model_validate(
                {
                    "env": {"network": network},
                    "algo": algo,
                    "reg": reg,
                    "episodes": 10_000,
                    "eval_episodes": 0,
                }
            )
            run_dir = out / f"{network}-{algo}-{reg}"
            episodes, cpu = train_within(config, args.budget_minutes * 60, run_dir)
            label = f"{algo}/{reg} ({episodes} ep, {cpu / 60:.1f} CPU-min)"
            rows[label] = evaluate(load_controller(run_dir), env_config, seeds)["mean"]
        fixed = rows["fixed-time"]["mean_delay"]
        print(f"\n{network}: mean over {len(seeds)} evaluation episodes (runs in {out})")
        print(
            f"{'controller':44s} {'delay (s)':>9s} {'vs fixed':>8s} {'travel (s)':>10s} {'throughput':>10s}"
        )
        for label, m in rows.items():
            change = (m["mean_delay"] - fixed) / fixed * 100
            print(
                f"{label:44s} {m['mean_delay']:9.1f} {change:+7.1f}% {m['mean_travel_time']:10.1f}"
                f" {m['throughput']:10.0f}"
            )
        for label, delay in RESCO_DELAY.get(network, {}).items():
            print(f"{'RESCO published: ' + label:44s} {delay:9.1f}")


if __name__ == "__main__":
    main()
