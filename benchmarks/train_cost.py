"""Cost of ERNIE: wall time of ERNIE-Stackelberg QCOMBO training divided by plain QCOMBO's, for
the same number of environment steps, measured side by side in one run (goal: ≤ 1.6×).

    PYTHONPATH=$PWD:$PWD/deploy python benchmarks/train_cost.py [--episodes 3] [--episode-seconds 1800]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from ernie_traffic.training.config import TrainConfig
from ernie_traffic.training.loop import train


def timed_run(reg: str, mode: str, episodes: int, episode_seconds: float, out: Path) -> tuple[float, int]:
    config = TrainConfig.model_validate(
        {
            "env": {"network": "grid2x2", "episode_seconds": episode_seconds},
            "reg": reg,
            # updates from step 100 on, so that the measurement is mostly updates, not warm-up
            "qcombo": {"learning_starts": 100},
            "regularizer": {"mode": mode},
            "episodes": episodes,
            "eval_episodes": 0,
            "out_dir": str(out),
            "name": f"{reg}-{mode}",
        }
    )
    began = time.perf_counter()
    result = train(config)
    return time.perf_counter() - began, sum(r["steps"] for r in result.metrics)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--episode-seconds", type=float, default=1800)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            ("QCOMBO (plain)", *timed_run("none", "plain", args.episodes, args.episode_seconds, Path(tmp))),
            (
                "ERNIE-QCOMBO (stackelberg)",
                *timed_run("ernie", "stackelberg", args.episodes, args.episode_seconds, Path(tmp)),
            ),
            (
                "ERNIE-QCOMBO (plain PGD)",
                *timed_run("ernie", "plain", args.episodes, args.episode_seconds, Path(tmp)),
            ),
        ]
    base = rows[0][1]
    print(f"{'learner':30s} {'env steps':>9s} {'wall (s)':>9s} {'ratio':>6s}")
    for name, wall, steps in rows:
        print(f"{name:30s} {steps:9d} {wall:9.1f} {wall / base:6.2f}")


if __name__ == "__main__":
    main()
