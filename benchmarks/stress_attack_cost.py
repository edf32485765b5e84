"""CPU time of an observation-attack stress cell beside an unattacked cell of the same hour (goal ≤ 3×).

    PYTHONPATH=$PWD:$PWD/deploy python benchmarks/stress_attack_cost.py [--seeds 0,1] [--horizon 3600]

The learned controller is a QCOMBO policy of the default width (128-128) trained on grid2x2 for
``--train-episodes`` one-hour episodes first (in ``--run DIR`` if given and not trained yet, so
that later runs attack the same controller). Each cell is the stress test's own ``run_cell``, timed
with ``time.process_time`` (CPU time of this process, all its threads), cells interleaved seed by
seed (unattacked, then attacked) so that a change of the machine's load hits both alike. The
unattacked cell is the sweep's baseline cell (which also measures the controller's empirical
Lipschitz constant, on 64 observations per intersection).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ernie_traffic.envs.traffic import TrafficEnvConfig
from ernie_traffic.stress.cells import TrafficCell, run_cell
from ernie_traffic.stress.plan import Family, StressPlan
from ernie_traffic.stress.sweep import Sweep, expand_cells
from ernie_traffic.training.config import TrainConfig
from ernie_traffic.training.loop import train


def trained_run(run_dir: Path, episodes: int) -> None:
    """A QCOMBO run on grid2x2 in ``run_dir`` (default networks, no regularizer, no evaluation): a
    controller that moves traffic like a trained one, so that the simulation costs what a real
    sweep's cells cost (an untrained network holds its phases and jams the grid: slower cells)."""
    config = TrainConfig(
        env=TrafficEnvConfig(network="grid2x2"), reg="none", episodes=episodes, eval_episodes=0
    )
    train(config, run_dir=run_dir)


def cells_of(
    run: Path, seeds: list[int], horizon: float, epsilon: float
) -> dict[int, dict[str, TrafficCell]]:
    """Per seed: the baseline cell and the attack cell of the run's controller."""
    attack = Family(name="attack", perturbation="observation_attack", levels=[epsilon], nominal=0)
    plan = StressPlan(seeds=seeds, horizon=horizon, families=[attack])
    by_seed: dict[int, dict[str, TrafficCell]] = {seed: {} for seed in seeds}
    for cell in expand_cells(Sweep(network="grid2x2", controllers=[str(run)], plan=plan)):
        by_seed[cell.seed][cell.family] = cell
    return by_seed


def cpu_seconds(cell: TrafficCell) -> float:
    began = time.process_time()
    run_cell(cell)
    return time.process_time() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1", help="comma-separated cell seeds")
    parser.add_argument("--horizon", type=float, default=3600.0, help="simulated seconds per cell")
    parser.add_argument("--epsilon", type=float, default=0.05, help="attack radius (a default plan level)")
    parser.add_argument("--train-episodes", type=int, default=4, help="training of the controller")
    parser.add_argument(
        "--run",
        type=Path,
        help="run directory to attack (any QCOMBO/COMA run); trained there first when it holds no policy",
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or Path(tmp) / "qcombo"
        if not (run / "policy.pt").is_file():
            trained_run(run, args.train_episodes)
        by_seed = cells_of(run, seeds, args.horizon, args.epsilon)
        # Warm-up, not counted: imports, libsumo's first load, torch's first autograd graph.
        run_cell(dataclasses.replace(by_seed[seeds[0]]["attack"], horizon=60.0))
        times: dict[str, list[float]] = {"baseline": [], "attack": []}
        for seed in seeds:
            for family in ("baseline", "attack"):
                times[family].append(cpu_seconds(by_seed[seed][family]))
                print(f"seed {seed} {family:8s} {times[family][-1]:7.2f} CPU-s", flush=True)
    controller = str(args.run) if args.run else f"QCOMBO trained {args.train_episodes} episodes"
    baseline, attack = statistics.mean(times["baseline"]), statistics.mean(times["attack"])
    print(
        f"grid2x2, {args.horizon:g} simulated s, ε={args.epsilon:g} (ℓ∞, 10 steps, 2 restarts), "
        f"seeds {args.seeds}, controller {controller}, torch={torch.__version__}"
    )
    print(f"{'cell':28s} {'CPU-s (mean)':>12s} {'× unattacked':>13s}")
    print(f"{'unattacked (baseline)':28s} {baseline:12.2f} {1.0:13.2f}")
    verdict = "meets" if attack / baseline <= 3.0 else "ABOVE"
    print(f"{'observation attack':28s} {attack:12.2f} {attack / baseline:13.2f}   goal ≤ 3×: {verdict}")


if __name__ == "__main__":
    main()
