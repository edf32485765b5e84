"""Cost of ERNIE: CPU time of ERNIE-Stackelberg QCOMBO training divided by plain QCOMBO's, for the same
environment steps and updates (goal: ≤ 1.6×), with where the time goes.

    PYTHONPATH=$PWD:$PWD/deploy python benchmarks/train_cost.py [--seeds 0,1,2] [--episodes 2]
        [--episode-seconds 1800] [--repeats 1]

Every (learner, seed) run trains in a fresh worker process (the training loop's own episodes, no
checkpoints or evaluation) and reports the CPU time of that process (``time.process_time``: all its
threads, SUMO included, one torch thread) split into the environment (reset and step), the updates
(of which the regularizer's forward part: the attack and the perturbed outputs; its backward is in
the update's backward pass), acting, the replay buffer, setting up (network, first reset) and the
loop itself (the rest), so that the parts add up to the total. The runs are interleaved round
robin, every learner once per seed, so that a change of the machine's load hits every learner alike;
the table gives the sums over seeds and the ratio of totals. ``--repeats R`` runs that round robin R
times over (each repeat a table of its own) and ends with every repeat's ratio, their median and
their maximum: the environment and setup parts alone move one repeat's ratio by ±0.2.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

LEARNERS = {  # label -> (reg, regularizer mode)
    "QCOMBO (plain)": ("none", "plain"),
    "ERNIE-QCOMBO (stackelberg)": ("ernie", "stackelberg"),
    "ERNIE-QCOMBO (plain PGD)": ("ernie", "plain"),
}


def train_and_time(learner: str, seed: int, episodes: int, episode_seconds: float) -> dict[str, Any]:
    """Train one learner in this process; CPU seconds per part, steps and updates."""
    import torch

    from ernie_traffic.algorithms import build_discrete_learner
    from ernie_traffic.envs.traffic import TrafficSignalEnv
    from ernie_traffic.training.config import TrainConfig
    from ernie_traffic.training.episodes import run_training_episode
    from ernie_traffic.training.loop import spec_from_env

    torch.set_num_threads(1)
    reg, mode = LEARNERS[learner]
    config = TrainConfig.model_validate(
        {
            "env": {"network": "grid2x2", "episode_seconds": episode_seconds, "control": "agents"},
            "reg": reg,
            # updates from step 100 on, so that the measurement is mostly updates, not warm-up
            "qcombo": {"learning_starts": 100},
            "regularizer": {"mode": mode},
            "episodes": episodes,
            "seed": seed,
        }
    )
    spent: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)

    def timed(part: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent[part] += time.process_time() - began
                calls[part] += 1

        return wrapper

    began = time.process_time()
    env = TrafficSignalEnv(config.env)
    obs, _ = env.reset(seed=config.training_seed(0))
    spec = spec_from_env(env)
    trainer = build_discrete_learner(
        config.algo, spec, config.algo_config, config.reg, config.regularizer, seed
    )
    spent["setup"] = time.process_time() - began
    env.reset = timed("env", env.reset)
    env.step = timed("env", env.step)
    trainer.act = timed("act", trainer.act)
    trainer.observe = timed("observe", trainer.observe)
    trainer.update = timed("update", trainer.update)
    if trainer.regularizers.observation is not None:
        trainer.regularizers.observation = timed("regularizer", trainer.regularizers.observation)
    steps = 0
    try:
        for episode in range(episodes):
            if episode:
                obs, _ = env.reset(seed=config.training_seed(episode))
            steps += run_training_episode(env, trainer, spec, obs, config.reward_scale)["steps"]
    finally:
        env.close()
    total = time.process_time() - began
    parts = {
        "setup": spent["setup"],
        "env": spent["env"],
        "act": spent["act"],
        "replay": spent["observe"] - spent["update"],
        "update": spent["update"],
    }
    return {
        "total": total,
        **parts,
        "loop": total - sum(parts.values()),
        "regularizer": spent["regularizer"],
        "steps": steps,
        "updates": calls["update"],
    }


def run_worker(learner: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--worker",
        learner,
        f"--seeds={seed}",
        f"--episodes={args.episodes}",
        f"--episode-seconds={args.episode_seconds}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode:
        raise SystemExit(f"{learner}, seed {seed} failed:\n{result.stderr}")
    return json.loads(result.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--episode-seconds", type=float, default=1800)
    parser.add_argument("--repeats", type=int, default=1, help="round robins over all seeds and learners")
    parser.add_argument("--worker", choices=list(LEARNERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.worker:
        print(json.dumps(train_and_time(args.worker, seeds[0], args.episodes, args.episode_seconds)))
        return

    ratios: dict[str, list[float]] = defaultdict(list)
    for repeat in range(args.repeats):
        sums: dict[str, dict[str, float]] = {name: defaultdict(float) for name in LEARNERS}
        for seed in seeds:
            for name in LEARNERS:
                run = run_worker(name, seed, args)
                print(f"repeat {repeat + 1} seed {seed} {name:28s} {run['total']:7.1f} CPU-s", flush=True)
                for key, value in run.items():
                    sums[name][key] += value
        print(f"repeat {repeat + 1} of {args.repeats}: ", end="")
        for name, ratio in print_table(sums, args).items():
            ratios[name].append(ratio)
    for name, values in ratios.items():
        print(
            f"{name} / plain QCOMBO, every repeat: {', '.join(f'{r:.2f}×' for r in values)}; "
            f"median {statistics.median(values):.2f}×, max {max(values):.2f}×"
        )
    median = statistics.median(ratios["ERNIE-QCOMBO (stackelberg)"])
    verdict = "meets" if median <= 1.6 else "ABOVE"
    print(
        f"ERNIE-Stackelberg / plain QCOMBO, median of {args.repeats}: {median:.2f}×   goal ≤ 1.6×: {verdict}"
    )


def print_table(sums: dict[str, dict[str, float]], args: argparse.Namespace) -> dict[str, float]:
    """One round robin's table (CPU s summed over seeds); returns each ERNIE learner's ratio of totals."""
    print(
        f"grid2x2, seeds {args.seeds}, {args.episodes} × {args.episode_seconds:g} s episodes per seed, "
        "updates from step 100, K=3, ε=0.05, regularizer on 16 of 64 transitions; CPU s summed over seeds"
    )
    columns = ("setup", "env", "act", "replay", "update", "loop")
    print(f"{'learner':28s} {'steps':>5s} {'upd.':>4s}" + "".join(f" {c:>6s}" for c in columns), end="")
    print(f" {'total':>6s} {'ratio':>5s} {'ms/update':>9s} {'of which reg fwd':>16s}")
    base = sums["QCOMBO (plain)"]["total"]
    for name, s in sums.items():
        print(
            f"{name:28s} {s['steps']:5.0f} {s['updates']:4.0f}" + "".join(f" {s[c]:6.1f}" for c in columns),
            end="",
        )
        print(
            f" {s['total']:6.1f} {s['total'] / base:5.2f} {1e3 * s['update'] / s['updates']:9.2f}"
            f" {1e3 * s['regularizer'] / s['updates']:16.2f}"
        )
    plain = sums["QCOMBO (plain)"]
    for name, s in sums.items():
        if s is plain:
            continue
        extra = {part: s[part] - plain[part] for part in (*columns, "total")}
        print(
            f"{name} − plain: {extra['total']:+.1f} s = updates {extra['update']:+.1f} "
            f"({1e3 * extra['update'] / s['updates']:+.2f} ms × {s['updates']:.0f})"
            + "".join(f" + {c} {extra[c]:+.1f}" for c in columns if c != "update")
        )
    return {name: s["total"] / base for name, s in sums.items() if s is not plain}


if __name__ == "__main__":
    main()
