"""``python -m ernie_deploy check BUNDLE``: verify a bundle as the controller would at start-up.

With ``--cabinet`` (a cabinet file) or ``--network`` (the network's ``.net.xml``) the bundle must
fit the intersections' own phase tables and timing (``ernie_deploy.cabinet``), which the decisions
are then timed with; with ``--trust-key`` it must be signed by that key (``ernie_deploy.signing``).
Prints the intersections, their timing and models, then times a few decisions on idle readings; on
any problem prints one ``error:`` line and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ernie_deploy.bundle import BundleError, load_bundle
from ernie_deploy.cabinet import Cabinet, CabinetError, read_cabinet, read_network_cabinet
from ernie_deploy.runtime import ControllerRuntime

NETWORK_FILE_SUFFIX = ".net.xml"


def _cabinet(network: str | None, cabinet_file: str | None) -> tuple[Cabinet | None, str | None]:
    """The cabinet the bundle must fit, and what it is for the report: the cabinet file's, or the
    network file's (default timing), or none. A network *name* alone gives no phase table here
    (the runtime ships no networks), so it is refused rather than passing a bundle unchecked."""
    network_file = network is not None and network.endswith(NETWORK_FILE_SUFFIX)
    if cabinet_file is not None:
        if network_file:
            raise CabinetError(f"--network {network}: give a network file or --cabinet, not both")
        return read_cabinet(cabinet_file), f"the cabinet {cabinet_file}"
    if network is None:
        return None, None
    if network_file:
        return read_network_cabinet(network), f"the cabinets of {network} (default timing)"
    raise CabinetError(
        f"--network {network}: a name gives no phase table to check the bundle against; give the "
        f"network's {NETWORK_FILE_SUFFIX} file, or --cabinet FILE (ernie-traffic deploy cabinet "
        f"--network {network} --out FILE)"
    )


def check(
    bundle_dir: str,
    network: str | None,
    decisions: int,
    cabinet_file: str | None = None,
    trust_key: str | None = None,
) -> None:
    cabinet, fits = _cabinet(network, cabinet_file)
    if cabinet is not None and (network is None or network.endswith(NETWORK_FILE_SUFFIX)):
        network = cabinet.network
    bundle = load_bundle(bundle_dir, network=network, trust_key=trust_key)
    runtime = ControllerRuntime(bundle, cabinet=cabinet)
    signed = f", signature by {trust_key} verified" if trust_key else ""
    print(
        f"bundle {bundle.root}: network {bundle.network}, opset {bundle.opset}, "
        f"decision every {bundle.decision_interval_s:g} s, {len(bundle.files)} files verified{signed}"
    )
    if fits is not None:
        print(f"fits {fits}: its phase tables, timed by the timing below")
    for tls, spec in bundle.intersections.items():
        t = runtime.timers[tls].timing
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
    check_parser.add_argument(
        "--network",
        help=f"network file ({NETWORK_FILE_SUFFIX}): refuse the bundle unless it fits its traffic lights' "
        "phase tables and the default timing; a network name only with --cabinet",
    )
    check_parser.add_argument("--decisions", type=int, default=200, help="decisions to time")
    check_parser.add_argument(
        "--cabinet", help="cabinet file: refuse the bundle unless it fits these phase tables and timing"
    )
    check_parser.add_argument(
        "--trust-key", help="Ed25519 public key (PEM): refuse the bundle unless it is signed by it"
    )
    args = parser.parse_args(argv)
    try:
        check(args.bundle, args.network, args.decisions, args.cabinet, args.trust_key)
    except (BundleError, CabinetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
