"""``ernie-traffic deploy``: the hardware-in-the-loop simulator and the runtime's SNMP field loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from ernie_traffic.cli.options import Network
from ernie_traffic.errors import UserInputError
from ernie_traffic.utils.config_files import load_config
from ernie_traffic.utils.io import atomic_write_bytes, atomic_write_json, atomic_write_text

TrustKey = Annotated[
    Path | None,
    typer.Option("--trust-key", help="Ed25519 public key (PEM): refuse a --bundle not signed by it."),
]
app = typer.Typer(
    help="Put controllers in the loop over NTCIP 1202 / SNMP: simulate signal cabinets, run runtimes.",
    no_args_is_help=True,
)


@app.command("simulate")
def simulate_command(
    network: Network = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="HilConfig YAML/TOML (fields: docs/hil.md).")
    ] = None,
    bundle: Annotated[
        Path | None,
        typer.Option(
            "--bundle",
            help="Controller bundle: its network and decision interval are used, and it must fit the "
            "cabinets' own phase tables and timing (from the network and --config), else exit 2.",
        ),
    ] = None,
    trust_key: TrustKey = None,
    seed: Annotated[int | None, typer.Option("--seed", help="SUMO seed.")] = None,
    seconds: Annotated[
        float | None, typer.Option("--seconds", help="Simulated seconds (default: the scenario's hour).")
    ] = None,
    mode: Annotated[str | None, typer.Option("--mode", help="lockstep (default) or realtime.")] = None,
    base_port: Annotated[
        int | None, typer.Option("--base-port", help="UDP port of the first intersection's agent.")
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to bind (default 127.0.0.1, loopback).")
    ] = None,
    community: Annotated[str | None, typer.Option("--community", help="SNMPv2c community string.")] = None,
    watchdog: Annotated[
        float | None, typer.Option("--watchdog", help="Seconds without a command before fixed time.")
    ] = None,
    startup_timeout: Annotated[
        float | None,
        typer.Option(
            "--startup-timeout", help="Wall seconds the first period waits for every runtime (0: none)."
        ),
    ] = None,
    gui: Annotated[bool, typer.Option("--gui", help="Watch in sumo-gui.")] = False,
    signal_log: Annotated[
        Path | None, typer.Option("--signal-log", help="Where SUMO logs the signal states it shows.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the result summary as JSON here.")] = None,
) -> None:
    """Run SUMO with one virtual NTCIP signal controller (SNMP agent) per signalised intersection.

    Prints the agent ports, then waits for runtimes (`ernie-traffic deploy run`), runs the episode
    and prints the traffic metrics and the control-loop summary. Also checks the signal log.
    """
    from ernie_deploy.cabinet import check_fits

    from ernie_traffic.hil.config import HilConfig
    from ernie_traffic.hil.simulator import HilSimulator

    overrides = {
        "traffic.network": network,
        "traffic.seed": seed,
        "traffic.episode_seconds": seconds,
        "traffic.gui": gui or None,
        "mode": mode,
        "base_port": base_port,
        "host": host,
        "snmp.community": community,
        "watchdog_s": watchdog,
        "startup_timeout_s": startup_timeout,
        "signal_log": str(signal_log) if signal_log else None,
    }
    loaded = _load_bundle(bundle, trust_key) if bundle is not None else None
    if loaded is not None:
        overrides |= {
            "traffic.network": network or loaded.network,
            "traffic.decision_interval": loaded.decision_interval_s,
        }
    hil_config = load_config(HilConfig, config, **overrides)
    simulator = HilSimulator(hil_config)
    if loaded is not None:
        # The cabinets time with their own configuration; a bundle asking for less is refused here,
        # before any agent listens, as each runtime refuses it again against what its cabinet reports.
        with _deploy_errors():
            check_fits(loaded, simulator.env.cabinet)
    for tls, port in simulator.ports.items():
        typer.echo(f"{tls}: {hil_config.host}:{port}")
    summary = simulator.summary(asyncio.run(simulator.run()))
    text = json.dumps(summary, indent=2)
    typer.echo(text)
    if out is not None:
        atomic_write_text(out, text + "\n")
    if summary["safety_violations"]:
        raise typer.Exit(1)


@contextmanager
def _deploy_errors() -> Iterator[None]:
    """The runtime's refusals (a bundle that is unsigned, does not load or does not fit; a controller
    that does not answer) as the one-line user errors they are."""
    from ernie_deploy.bundle import BundleError
    from ernie_deploy.snmp_client import ControllerUnreachable

    try:
        yield
    except (BundleError, ControllerUnreachable) as error:
        raise UserInputError(str(error)) from None


def _load_bundle(path: Path, trust_key: Path | None):  # -> ernie_deploy.bundle.Bundle
    """The verified bundle with every model loaded once (by a runtime for all its intersections), so
    that a model onnxruntime cannot load is one error line before any controller is contacted."""
    from ernie_deploy.bundle import load_bundle
    from ernie_deploy.runtime import ControllerRuntime

    with _deploy_errors():
        return ControllerRuntime(load_bundle(path, trust_key=trust_key)).bundle


@app.command("run")
def run_command(
    controller: Annotated[
        list[str], typer.Option("--controller", help="HOST:PORT of a signal controller; repeat for several.")
    ],
    bundle: Annotated[
        Path | None,
        typer.Option("--bundle", help="Controller bundle (ernie-traffic export); else the built-in rule."),
    ] = None,
    trust_key: TrustKey = None,
    community: Annotated[str, typer.Option("--community", help="SNMPv2c community string.")] = "public",
    snmp_version: Annotated[
        str, typer.Option("--snmp-version", help="2c, or 3 (authPriv: HMAC-SHA-256 + AES-128).")
    ] = "2c",
    user: Annotated[str, typer.Option("--user", help="SNMPv3 user.")] = "ernie",
    auth_key: Annotated[
        str, typer.Option("--auth-key", envvar="ERNIE_SNMP_AUTH_KEY", help="SNMPv3 auth pass phrase.")
    ] = "",
    priv_key: Annotated[
        str, typer.Option("--priv-key", envvar="ERNIE_SNMP_PRIV_KEY", help="SNMPv3 privacy pass phrase.")
    ] = "",
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for each SNMP answer.")] = 1.0,
    idle_timeout: Annotated[
        float, typer.Option("--idle-timeout", help="Stop after this many seconds without a new sample.")
    ] = 30.0,
    max_decisions: Annotated[
        int | None, typer.Option("--max-decisions", help="Stop after this many decisions.")
    ] = None,
    deadline: Annotated[
        float, typer.Option("--deadline", help="Seconds one decision may take before the fallback plan.")
    ] = 0.1,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", help="Seconds between two polls of the sample sequence.")
    ] = 0.002,
) -> None:
    """Run the field loop for each controller: poll detectors, decide, command the phase over SNMP.

    With --bundle, each controller's intersection (its sysName) is looked up in the bundle and run by
    the ONNX runtime with its safety shield and fallback plan; without, by the built-in
    longest-queue rule (for checking the link). The bundle must fit the phase table and timing each
    controller reports (its own, which it enforces whatever it is sent), and with --trust-key be
    signed by that key. Stops by itself when the controllers go away or stay idle. Exits 2 with a
    one-line reason when a controller cannot be reached (wrong port, wrong community, wrong SNMPv3
    keys), is not in the bundle, or the bundle does not fit it or is not signed.
    """
    from ernie_deploy.snmp_client import SnmpCredentials
    from ernie_deploy.snmp_runner import connect, serve

    loaded = _load_bundle(bundle, trust_key) if bundle is not None else None
    credentials = SnmpCredentials(snmp_version, community, user, auth_key, priv_key)
    loops = []
    for address in controller:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise UserInputError(f"--controller {address!r}: expected HOST:PORT, e.g. 127.0.0.1:16100")
        with _deploy_errors():
            loops.append(
                connect(host, int(port), credentials, loaded, timeout_s=timeout, deadline_s=deadline)
            )
    reports = serve(
        loops, poll_interval_s=poll_interval, idle_timeout_s=idle_timeout, max_decisions=max_decisions
    )
    for loop in loops:
        typer.echo(reports.get(loop.address, f"{loop.address}: no report"))


@app.command("cabinet")
def cabinet_command(
    out: Annotated[Path, typer.Option("--out", help="Cabinet file (JSON) to write.")],
    network: Network = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="HilConfig YAML/TOML whose traffic timing the cabinets use."),
    ] = None,
) -> None:
    """Write the signal cabinets' own configuration: each intersection's green states (the network's
    program) and timing (--config's, else the defaults: yellow 3 s, red clearance 2 s, min green 5 s).

    `python -m ernie_deploy check BUNDLE --cabinet FILE` refuses a bundle that does not fit it, on a
    controller computer that has the runtime only.
    """
    from ernie_traffic.envs.traffic import TrafficSignalEnv
    from ernie_traffic.hil.config import HilConfig

    hil_config = load_config(HilConfig, config, **{"traffic.network": network})
    env = TrafficSignalEnv(hil_config.traffic)  # reads the network only; SUMO starts at reset
    try:
        cabinet = env.cabinet
    finally:
        env.close()
    atomic_write_json(out, cabinet.to_dict())
    typer.echo(f"{out}: cabinets of {len(cabinet.intersections)} intersections of {cabinet.network}")


PRIVATE_KEY_NAME = "bundle-signing.key"
PUBLIC_KEY_NAME = "bundle-signing.pub"


@app.command("keygen")
def keygen_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for the key pair (created if missing).")],
) -> None:
    """Create an Ed25519 key pair for signing bundles (`export --sign-key`).

    Writes OUT/bundle-signing.key (the private key, mode 0600: it stays with whoever exports, never
    in a bundle) and OUT/bundle-signing.pub (the public key every controller trusts: `--trust-key`).
    Refuses to overwrite an existing key; rotating keys is described in docs/deploy.md.
    """
    from ernie_deploy.signing import fingerprint, load_public_key, new_key_pair

    private_path, public_path = out / PRIVATE_KEY_NAME, out / PUBLIC_KEY_NAME
    for path in (private_path, public_path):
        if path.exists():
            raise UserInputError(f"{path}: exists; a new key pair goes into a new folder")
    private_pem, public_pem = new_key_pair()
    atomic_write_bytes(private_path, private_pem, mode=0o600)
    atomic_write_bytes(public_path, public_pem)
    typer.echo(f"private key: {private_path} (keep it secret, never ship it in a bundle)")
    typer.echo(f"public key:  {public_path} (key {fingerprint(load_public_key(public_path))})")
