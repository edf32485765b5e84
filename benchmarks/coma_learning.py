"""Does COMA learn on grid2x2? Short COMA runs (variants of the critic and regularizer) trained
side by side from the same seed, their greedy policies evaluated beside random, max-pressure and
fixed-time on the same evaluation seeds.

    PYTHONPATH=$PWD:$PWD/deploy python benchmarks/coma_learning.py [--episodes 40] \
        [--variants local,team,ernie,ernie-a] [--episode-seconds 600] [--eval-seeds 3] \
        [--actor-epochs N] [--target-kl KL|none]

Variants: ``local`` (the default config), ``team`` (``coma.critic_reward: team``, the paper's
team-reward critic), ``ernie`` / ``ernie-a`` (the default config with that regularizer).
``--actor-epochs 1`` gives COMA's single actor step per batch, the configuration before 2026-12-01
01:45 UTC; ``--target-kl 0.02`` adds the KL stop on the actor steps (not the default).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from ernie_traffic.controllers import classical_controller
from ernie_traffic.controllers.learned import load_controller
from ernie_traffic.evaluation import evaluate, evaluation_seeds
from ernie_traffic.training.config import TrainConfig
from ernie_traffic.training.loop import train

VARIANTS = {
    "local": {"reg": "none"},
    "team": {"reg": "none", "coma": {"critic_reward": "team"}},
    "ernie": {"reg": "ernie"},
    "ernie-a": {"reg": "ernie-a"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--episode-seconds", type=float, default=600)
    parser.add_argument("--variants", default="local,team,ernie,ernie-a")
    parser.add_argument("--eval-seeds", type=int, default=3)
    parser.add_argument("--actor-epochs", type=int, default=None, help="coma.actor_epochs")
    parser.add_argument(
        "--target-kl",
        type=lambda value: None if value == "none" else float(value),
        default=argparse.SUPPRESS,
        help="coma.target_kl ('none': every actor step of a batch is taken)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = evaluation_seeds(args.eval_seeds)
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for name in args.variants.split(","):
            variant = VARIANTS[name]
            coma = variant.get("coma", {})
            if args.actor_epochs is not None:
                coma = {**coma, "actor_epochs": args.actor_epochs}
            if "target_kl" in vars(args):
                coma = {**coma, "target_kl": args.target_kl}
            config = TrainConfig.model_validate(
                {
                    "env": {"network": "grid2x2", "episode_seconds": args.episode_seconds},
                    "algo": "coma",
                    "episodes": args.episodes,
                    "eval_episodes": 0,
                    "checkpoint_every": args.episodes,
                    "out_dir": out,
                    "name": name,
                    **variant,
                    "coma": coma,
                }
            )
            began = time.process_time()
            result = train(config)
            cpu = time.process_time() - began
            last = result.metrics[-1]
            learned = evaluate(load_controller(Path(result.run_dir)), config.env, seeds)["mean"]
            rows.append(
                (
                    f"COMA {name}",
                    learned["mean_delay"],
                    f"{cpu:.0f} CPU-s, entropy {last['loss/entropy']:.2f}",
                )
            )
        for baseline in ("random", "max-pressure", "fixed-time"):
            mean = evaluate(classical_controller(baseline, "grid2x2"), config.env, seeds)["mean"]
            rows.append((baseline, mean["mean_delay"], ""))
    random_delay = next(delay for name, delay, _ in rows if name == "random")
    print("| controller | mean delay (s) | vs random | training |")
    print("|---|---|---|---|")
    for name, delay, note in rows:
        print(f"| {name} | {delay:.1f} | {delay / random_delay:.2f} | {note} |")


if __name__ == "__main__":
    main()
