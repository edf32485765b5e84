"""Classical controllers under the cabinet timing (3 s yellow + 2 s all-red between conflicting
greens, what every learned controller gets) and under the network's own yellow-only timing, on the
same evaluation seeds: how much of a gap between two controllers is only their clearance time.

    PYTHONPATH=$PWD:$PWD/deploy python benchmarks/cabinet_timing.py --network grid2x2 --episodes 2
"""

from __future__ import annotations

import argparse
import tempfile

from ernie_traffic.controllers import classical_controller
from ernie_traffic.controllers.classical import CLASSICAL
from ernie_traffic.envs.traffic import TrafficEnvConfig
from ernie_traffic.evaluation import evaluate, evaluation_seeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="grid2x2")
    parser.add_argument("--episodes", type=int, default=2, help="evaluation episodes per controller")
    parser.add_argument("--controllers", default=",".join(CLASSICAL))
    args = parser.parse_args()
    seeds = evaluation_seeds(args.episodes)
    work_dir = tempfile.mkdtemp(prefix="cabinet-timing-")
    timings = {"cabinet (3 s + 2 s all-red)": 2.0, "network (3 s yellow only)": 0.0}
    print(f"{args.network}: mean delay (s) over {len(seeds)} evaluation episodes")
    print(f"{'controller':20s}" + "".join(f"{label:>30s}" for label in timings))
    for name in args.controllers.split(","):
        controller = classical_controller(name, args.network, work_dir=work_dir)
        delays = [
            # whole-lane detectors (max-pressure, actuated-detector), as docs/benchmarks.md recorded it
            evaluate(
                controller,
                TrafficEnvConfig(network=args.network, red_clearance=red, detector_length=None),
                seeds,
            )["mean"]["mean_delay"]
            for red in timings.values()
        ]
        print(f"{name:20s}" + "".join(f"{delay:30.1f}" for delay in delays), flush=True)


if __name__ == "__main__":
    main()
