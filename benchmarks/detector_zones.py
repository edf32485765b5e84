"""How long should the detectors a learned controller reads be? Trains plain QCOMBO on grid2x2 once
per detector length (stop-line zones of 30-200 m, or whole lanes), same seed and budget, and prints
each run's validation delay (what the default was chosen on) beside its evaluation delay and SUMO's
actuated control on the evaluation seeds (what is reported).

A finished run keeps its ``evaluation.json`` and is not trained again, so a killed benchmark
continues where it stopped.

    PYTHONPATH=$PWD:$PWD/deploy python benchmarks/detector_zones.py --lengths none,30,50,75,100,200 \\
        --out bench-out/detector-zones
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from train_quality import cpu_seconds  # this folder is on the path of a script run from it

from ernie_traffic.runs import RunDirectory
from ernie_traffic.training.config import TrainConfig
from ernie_traffic.training.loop import train
from ernie_traffic.utils.io import atomic_write_json


def run_length(length: float | None, args: argparse.Namespace) -> dict:
    """Train and evaluate one detector length (or load its finished run)."""
    name = f"zone-{'lane' if length is None else f'{length:g}'}-{args.reg}-seed{args.seed}"
    run = RunDirectory(args.out / name)
    cpu_file = run.path / "cpu.json"
    if run.evaluation.is_file() and cpu_file.is_file():
        cpu = json.loads(cpu_file.read_text())["cpu_s"]
    else:
        config = TrainConfig.model_validate(
            {
                "env": {"network": "grid2x2", "detector_length": length},
                "reg": args.reg,
                "seed": args.seed,
                "episodes": args.episodes,
                # the recorded sweep ran the paper's consistency weight, the default until 2026-11-30
                "qcombo": {"epsilon_decay_steps": 3600, "consistency_weight": 1.7},
                "baselines": ["actuated"],
                "out_dir": str(args.out),
                "name": name,
            }
        )
        began = cpu_seconds()
        train(config, resume=run.checkpoint.is_file())
        cpu = cpu_seconds() - began
        atomic_write_json(cpu_file, {"cpu_s": cpu})
    validation = [m["validation_delay"] for m in run.read_metrics()]
    evaluation = json.loads(run.evaluation.read_text())
    return {
        "length": "whole lane" if length is None else f"{length:g} m",
        "best_validation": min(validation),
        "last3_validation": sum(validation[-3:]) / 3,
        "learned": evaluation["learned"]["mean"]["mean_delay"],
        "actuated": evaluation["actuated"]["mean"]["mean_delay"],
        "cpu_s": cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="none,30,50,75,100,200", help="metres, or none: whole lane")
    parser.add_argument("--reg", default="none", help="regularizer of every run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("bench-out/detector-zones"))
    args = parser.parse_args()
    lengths = [None if x == "none" else float(x) for x in args.lengths.split(",")]
    rows = [run_length(length, args) for length in lengths]
    print(f"grid2x2, {args.reg}, seed {args.seed}, {args.episodes} episodes; mean delay (s)")
    header = ("detectors", "best valid.", "last-3 valid.", "learned", "actuated", "CPU-s")
    print(f"{header[0]:12s}", *(f"{h:>13s}" for h in header[1:]))
    for r in rows:
        print(
            f"{r['length']:12s} {r['best_validation']:13.2f} {r['last3_validation']:13.2f} "
            f"{r['learned']:13.2f} {r['actuated']:13.2f} {r['cpu_s']:13.0f}"
        )


if __name__ == "__main__":
    main()
