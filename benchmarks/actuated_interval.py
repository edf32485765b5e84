"""Detector-driven controllers (actuated-detector, max-pressure) against the decision interval:
mean delay on grid2x2, nominal and with sensor faults, on the evaluation seeds.

    python benchmarks/actuated_interval.py --intervals 1,5 --episodes 2

Prints a Markdown table (docs/benchmarks.md, "Detector-driven classical controllers").
"""

from __future__ import annotations

import argparse

from ernie_traffic.controllers import classical_controller
from ernie_traffic.envs.traffic import PerturbationConfig, TrafficEnvConfig
from ernie_traffic.evaluation import evaluate, evaluation_seeds

CONDITIONS = {
    "nominal": [],
    "sensor noise 1.0": [PerturbationConfig(name="observation_noise", level=1.0)],
    "dropped 1.0": [PerturbationConfig(name="detector_failure", level=1.0, params={"mode": "dropped"})],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="grid2x2")
    parser.add_argument("--intervals", default="1,5", help="decision intervals (s), comma-separated")
    parser.add_argument("--episodes", type=int, default=2, help="evaluation episodes (seeds)")
    parser.add_argument("--controllers", default="actuated-detector,max-pressure")
    args = parser.parse_args()
    seeds = evaluation_seeds(args.episodes)
    print(f"| controller | decision interval (s) | {' | '.join(CONDITIONS)} |")
    print(f"|---|---|{'---|' * len(CONDITIONS)}")
    for name in args.controllers.split(","):
        for interval in (int(i) for i in args.intervals.split(",")):
            delays = []
            for perturbations in CONDITIONS.values():
                config = TrafficEnvConfig(
                    network=args.network,
                    decision_interval=interval,
                    perturbations=perturbations,
                    detector_length=None,  # whole-lane detectors, as docs/benchmarks.md recorded it
                )
                result = evaluate(classical_controller(name, args.network), config, seeds)
                delays.append(f"{result['mean']['mean_delay']:.1f}")
            print(f"| {name} | {interval} | {' | '.join(delays)} |", flush=True)


if __name__ == "__main__":
    main()
