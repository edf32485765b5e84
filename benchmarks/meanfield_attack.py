"""Does mean-field ERNIE's Wasserstein attack do more damage than a random transport plan?

On the trained critics of mean-field runs (``lab`` run directories, e.g. those of
``particle_robustness.py --part ablation``), the attack of the mean-field ERNIE preset (budget ε,
K steps) is run on transitions sampled from each run's own replay buffer, with the default step
and with a given fixed step (``--old-step``, the unit logit step the attack had before), against
``--random-plans`` random plans of the same budget (``mode="gaussian"``). Printed per learner
(mean over its runs): the damage Σ_a (Q(d') − Q(d))² averaged over agents and transitions, and the
share of the budget the attack spent. CPU seconds of the whole measurement are printed at the end.

    nice python benchmarks/meanfield_attack.py bench-out/ablation/runs/ablation_N10-*
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np


def measure(run: Path, rows: int, random_plans: int, old_step: float) -> dict[str, float]:
    """Damage and budget share of the preset's attack (default and ``old_step``) and of random plans."""
    import torch

    from ernie_traffic.algorithms import ContinuousTransition
    from ernie_traffic.algorithms.meanfield import POSITION, meanfield_variant, others_mean
    from ernie_traffic.algorithms.replay import ReplayBuffer
    from ernie_traffic.core import MeanFieldAttack, RegularizerConfig, wasserstein_attack
    from ernie_traffic.lab.train import load_learner, replay_state
    from ernie_traffic.runs import RunDirectory

    config, learner = load_learner(run)
    buffer = ReplayBuffer(ContinuousTransition, capacity=config.buffer_size)
    buffer.load_state_dict(replay_state(RunDirectory(run).load_checkpoint(required=("buffer",))["buffer"]))
    batch = buffer.sample(rows, np.random.default_rng(0))
    obs, actions = torch.stack(batch.obs, dim=1), torch.stack(batch.actions, dim=1)
    view = torch.cat([obs, actions, others_mean(actions)], dim=-1).flatten(0, 1)
    d_s = learner.histogram(obs[..., POSITION]).flatten(0, 1)
    preset = meanfield_variant("ernie").mean_field_regularizer
    assert preset is not None
    cost = learner.histogram.ground_cost

    def attack(cfg: RegularizerConfig) -> MeanFieldAttack:
        return wasserstein_attack(learner.q_of_distribution, view, d_s, cfg, cost)

    torch.manual_seed(0)
    new, old = attack(preset), attack(preset.model_copy(update={"step_size": old_step}))
    randoms = [
        float(attack(preset.model_copy(update={"mode": "gaussian"})).score.mean())
        for _ in range(random_plans)
    ]
    return {
        "attack": float(new.score.mean()),
        "attack spent": float(new.transport_cost.mean()) / preset.epsilon,
        "old step": float(old.score.mean()),
        "old step spent": float(old.transport_cost.mean()) / preset.epsilon,
        "random mean": float(np.mean(randoms)),
        "random best": float(np.max(randoms)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="trained mean-field lab run directories")
    parser.add_argument("--rows", type=int, default=128, help="transitions sampled per run")
    parser.add_argument("--random-plans", type=int, default=20)
    parser.add_argument("--old-step", type=float, default=1.0, help="the fixed logit step to compare with")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    started = time.process_time()
    by_learner: dict[str, list[dict[str, float]]] = defaultdict(list)
    for run in args.runs:
        # run names end in -s<seed> (particle_robustness.py): pool a learner's seeds
        by_learner[run.name.rpartition("-s")[0]].append(
            measure(run, args.rows, args.random_plans, args.old_step)
        )
    keys = ["attack", "attack spent", "old step", "old step spent", "random mean", "random best"]
    print("| runs (critic) | n | " + " | ".join(keys) + " | attack / random best |")
    print("|---|---|" + "---|" * (len(keys) + 1))
    for learner, found in by_learner.items():
        means = {k: np.mean([f[k] for f in found]) for k in keys}
        cells = " | ".join(f"{means[k]:.0%}" if k.endswith("spent") else f"{means[k]:.3g}" for k in keys)
        print(f"| {learner} | {len(found)} | {cells} | {means['attack'] / means['random best']:.1f}× |")
    print(f"{time.process_time() - started:.1f} CPU s")


if __name__ == "__main__":
    main()
