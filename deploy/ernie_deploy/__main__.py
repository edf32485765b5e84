"""``python -m ernie_deploy check BUNDLE``: verify a bundle as the controller would at start-up.

Prints the intersections, their timing and models, then times a few decisions on idle readings;
on any problem prints one ``error:`` line and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ernie_deploy.bundle import BundleError, load_bundle
from ernie_deploy.runtime import ControllerRuntime


def check(bundle_dir: str, network: str | None, decisions: int) -> None:
    bundle = load_bundle(bundle_dir, network=network)
    runtime = ControllerRuntime(bundle)
    print(
        f"bundle {bundle.root}: network {bundle.network}, opset {bundle.opset}, "
        f"decision every {bundle.decision_interval_s:g} s, {len(bundle.files)} files verified"
    )
    for tls, spec in bundle.intersections.items():
        t = spec.timing
        print(
            f"  {tls}: {len(spec.green_phases)} greens, {len(spec.layout.detector_ids)} detectors, "
            f"model {spec.model}; min/max green {t.min_green:g}/{t.max_green:g} s, "
            f"yellow {t.yellow_time:g} s, red clearance {t.red_clearance:g} s"
        )
    idle = {
        tls: (np.zeros(len(spec.layout.detector_ids)), np.zeros(len(spec.layout.detector_ids)))
        for tls, spec in bundle.intersections.items()
    }
    for _ in range(decisions):
        runtime.decide(idle)
        runtime.advance(bundle.decision_interval_s)
    stats = runtime.latency.summary()
    print(
        f"{stats['decisions']} decisions on idle readings: median {stats['median_ms']:.3f} ms, "
        f"p99 {stats['p99_ms']:.3f} ms, fallbacks {runtime.fallbacks.total()}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ernie_deploy", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("check", help="verify a bundle and time a few decisions")
    check_parser.add_argument("bundle", help="bundle folder (holds manifest.json)")
    check_parser.add_argument("--network", help="refuse the bundle unless it is for this network")
    check_parser.add_argument("--decisions", type=int, default=200, help="decisions to time")
    args = parser.parse_args(argv)
    try:
        check(args.bundle, args.network, args.decisions)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
