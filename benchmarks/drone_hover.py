"""Multi-drone hover: does a trained policy hover, and does it still under physical perturbations?

For each seed, trains a drone learner (default MADDPG) on the default drone task (``--env`` changes
it), then flies the greedy policy and uniformly random actions on the same evaluation episodes in
the nominal env and under each perturbation: heavier drones, weaker motors, wind, observation noise.
Prints, per condition, mean ± std over seeds of the return, the holding error (the worst drone's
mean distance to its hover point over the second half of an episode) and the crashed episodes.
Needs the drones extra's interpreter; a trained run in ``--out`` is reused.

    PYTHONPATH=$PWD .venv-drones/bin/python benchmarks/drone_hover.py --seeds 2 --out bench-out/hover
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import yaml

PERTURBATIONS = {
    "nominal": {},
    "mass ×1.3": {"mass_scale": 1.3},
    "thrust ×0.8": {"thrust_scale": 0.8},
    "wind 2 m/s": {"wind_speed": 2.0},
    "obs noise σ=0.1": {"observation_noise": 0.1},
}
EVAL_SEED = 10_000  # never a training episode's seed


def trained(args: argparse.Namespace, seed: int):
    """The learner of ``seed``'s run, trained now unless ``--out`` already holds it."""
    from ernie_traffic.lab.config import LabRunConfig
    from ernie_traffic.lab.train import load_learner, train

    run_dir = args.out / f"{args.learner}-s{seed}"
    if not (run_dir / "checkpoint.pt").is_file():
        config = LabRunConfig(
            family="drones",
            learner=args.learner,
            env=args.env,
            episodes=args.episodes,
            updates_per_episode=args.updates_per_episode,
            seed=seed,
        )
        started = time.perf_counter()
        train(config, run_dir, quiet=True)
        print(f"trained {run_dir} in {time.perf_counter() - started:.0f} s", flush=True)
    return load_learner(run_dir)


def greedy_and_random(learner, act_size: int, rng: np.random.Generator) -> dict:
    return {
        "learned": lambda obs: learner.act(obs, explore=False, rng=rng),
        "random": lambda obs: [rng.uniform(0, 1, act_size) for _ in obs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-out/hover"))
    parser.add_argument("--learner", default="maddpg")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--episodes", type=int, default=200, help="training episodes per run")
    parser.add_argument("--updates-per-episode", type=int, default=24)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument(
        "--env", action="append", default=[], help="FIELD=VALUE of the drone task, e.g. flight_mode=rates"
    )
    args = parser.parse_args()
    args.env = {field: yaml.safe_load(value) for field, _, value in (a.partition("=") for a in args.env)}
    torch.set_num_threads(1)
    from ernie_traffic.envs.drones import fly
    from ernie_traffic.envs.drones.hover import FLIGHT_MODES

    rows: dict[str, dict[str, list]] = {name: {"learned": [], "random": []} for name in PERTURBATIONS}
    for seed in range(args.seeds):
        config, learner = trained(args, seed)
        rng = np.random.default_rng(seed)
        act_size = len(FLIGHT_MODES[config.env.flight_mode].setpoints)
        for name, perturbation in PERTURBATIONS.items():
            env = config.env.model_copy(update=perturbation)
            for policy_name, policy in greedy_and_random(learner, act_size, rng).items():
                rows[name][policy_name].append(fly(policy, env, args.eval_episodes, seed=EVAL_SEED))

    print(
        f"\n{args.learner}, {args.seeds} seeds × {args.eval_episodes} episodes, env {args.env or 'default'}"
    )
    print("| condition | policy | return | holding error (m) | crashed episodes |")
    print("|---|---|---|---|---|")
    for name, by_policy in rows.items():
        for policy_name, runs in by_policy.items():
            returns = [np.mean([f.mean_return for f in flights]) for flights in runs]
            errors = [np.mean([f.holding_error() for f in flights]) for flights in runs]
            crashed = sum(f.crashed for flights in runs for f in flights)
            total = sum(len(flights) for flights in runs)
            print(
                f"| {name} | {policy_name} | {np.mean(returns):.1f} ± {np.std(returns):.1f} "
                f"| {np.mean(errors):.2f} ± {np.std(errors):.2f} | {crashed}/{total} |"
            )


if __name__ == "__main__":
    main()
