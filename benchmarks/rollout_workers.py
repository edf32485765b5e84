"""Training throughput with 1 and N rollout workers, side by side: exploring environment steps per
CPU-second and per wall-second of a whole ERNIE-QCOMBO training run on grid2x2, and the validation
delay it reaches.

    PYTHONPATH=$PWD:$PWD/deploy python benchmarks/rollout_workers.py [--workers 2] [--episodes 4]
        [--episode-seconds 1800] [--repeats 2]

Every run trains in a fresh process (``train``: its episodes, validation after each, checkpoints;
no final evaluation) and reports the CPU time of the training: its own and its children's, the
rollout workers (``resource.getrusage``, RUSAGE_SELF + RUSAGE_CHILDREN: user + system, SUMO
included), its wall time, its exploring steps and the best validation delay. The runs alternate
(1, N, 1, N, …) so that a change of the shared machine's load hits both alike; the table gives the
sums over the repeats.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its children that have ended."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def train_and_measure(workers: int, episodes: int, episode_seconds: float, out: Path) -> dict[str, Any]:
    """Train once in this process with ``workers`` rollout workers; its cost and result."""
    from ernie_traffic.training.config import TrainConfig
    from ernie_traffic.training.loop import train

    config = TrainConfig.model_validate(
        {
            "env": {"network": "grid2x2", "episode_seconds": episode_seconds},
            "episodes": episodes,
            "eval_episodes": 0,
            "rollout_workers": workers,
            # updates from step 100 on, so that every episode learns
            "qcombo": {"learning_starts": 100},
            "out_dir": str(out),
        }
    )
    cpu, wall = cpu_seconds(), time.perf_counter()
    metrics = train(config).metrics
    cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
    return {
        "cpu_s": cpu,
        "wall_s": wall,
        "steps": sum(r["steps"] for r in metrics),
        "validation_delay": min(r["validation_delay"] for r in metrics),
    }


def run_measurement(workers: int, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rollout-workers-") as out:
        command = [
            sys.executable,
            __file__,
            "--measure",
            str(workers),
            f"--episodes={args.episodes}",
            f"--episode-seconds={args.episode_seconds}",
            f"--out={out}",
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode:
        raise SystemExit(f"{workers} worker(s) failed:\n{result.stderr}")
    return json.loads(result.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="N, compared with 1")
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--episode-seconds", type=float, default=1800)
    parser.add_argument("--repeats", type=int, default=2, help="measurements of each, alternating")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(train_and_measure(args.measure, args.episodes, args.episode_seconds, args.out)))
        return

    contenders = (1, args.workers)
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in contenders}
    for repeat in range(args.repeats):
        for n in contenders:
            runs[n].append(run_measurement(n, args))
            print(f"repeat {repeat + 1}, {n} worker(s): {json.dumps(runs[n][-1])}", file=sys.stderr)
    header = ("rollout workers", "steps", "CPU-s", "**steps / CPU-s**", "wall-s", "**steps / wall-s**",
              "validation delay (s)")  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for n in contenders:
        steps = sum(r["steps"] for r in runs[n])
        cpu = sum(r["cpu_s"] for r in runs[n])
        wall = sum(r["wall_s"] for r in runs[n])
        delays = [r["validation_delay"] for r in runs[n]]
        shown = ", ".join(f"{d:.1f}" for d in delays) + f" (mean {statistics.fmean(delays):.1f})"
        rates = (f"{cpu:.1f}", f"**{steps / cpu:.1f}**", f"{wall:.1f}", f"**{steps / wall:.1f}**")
        row = (n, steps, *rates, shown)
        print("| " + " | ".join(map(str, row)) + " |")


if __name__ == "__main__":
    main()
