"""``ernie-traffic deploy``: the hardware-in-the-loop simulator and the runtime's SNMP field loop."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Annotated

import typer

from ernie_traffic.errors import UserInputError
from ernie_traffic.utils.config_files import load_config
from ernie_traffic.utils.io import atomic_write_text

app = typer.Typer(
    help="Put controllers in the loop over NTCIP 1202 / SNMP: simulate signal cabinets, run runtimes.",
    no_args_is_help=True,
)


@app.command("simulate")
def simulate_command(
    network: Annotated[
        str | None, typer.Option("--network", help="Bundled or RESCO network name, or a .net.xml path.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="HilConfig YAML/TOML (fields: docs/hil.md).")
    ] = None,
    bundle: Annotated[
        Path | None,
        typer.Option(
            "--bundle", help="Controller bundle whose timing and decision interval the cabinets use."
        ),
    ] = None,
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
    from ernie_traffic.hil.config import HilConfig
    from ernie_traffic.hil.safety import check_signal_log
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
    if bundle is not None:
        overrides |= _bundle_timing(bundle, network)
    hil_config = load_config(HilConfig, config, **overrides)
    simulator = HilSimulator(hil_config)
    for tls, port in simulator.ports.items():
        typer.echo(f"{tls}: {hil_config.host}:{port}")
    result = asyncio.run(simulator.run())
    violations = check_signal_log(result.signal_log, simulator.env.intersections, simulator.env.timing)
    summary = {
        "metrics": result.metrics,
        "decisions": result.decisions,
        "simulated_s": result.simulated_s,
        "wall_s": round(result.wall_s, 3),
        "speedup": round(result.speedup, 1),
        "commands": result.commands,
        "late_periods": result.late_periods,
        "mode_changes": result.mode_changes,
        "signal_log": str(result.signal_log),
        "safety_violations": violations,
    }
    text = json.dumps(summary, indent=2)
    typer.echo(text)
    if out is not None:
        atomic_write_text(out, text + "\n")
    if violations:
        raise typer.Exit(1)


def _load_bundle(path: Path):  # -> ernie_deploy.bundle.Bundle
    """The verified bundle with every model loaded once, so that a model onnxruntime cannot load is
    one error line before any controller is contacted."""
    from ernie_deploy.bundle import BundleError, load_bundle
    from ernie_deploy.policy import OnnxPolicy

    try:
        bundle = load_bundle(path)
        for spec in bundle.models.values():
            OnnxPolicy(bundle, spec)
    except BundleError as error:
        raise UserInputError(str(error)) from None
    return bundle


def _bundle_timing(path: Path, network: str | None) -> dict[str, object]:
    """The street settings a bundle was trained for: its network, decision interval and timing."""
    bundle = _load_bundle(path)
    timings = {spec.timing for spec in bundle.intersections.values()}
    if len(timings) != 1:
        raise UserInputError(f"{path}: intersections have different timings; the simulator needs one")
    timing = timings.pop()
    return {
        "traffic.network": network or bundle.network,
        "traffic.decision_interval": bundle.decision_interval_s,
        "traffic.yellow_time": timing.yellow_time,
        "traffic.red_clearance": timing.red_clearance,
        "traffic.min_green": timing.min_green,
        "traffic.max_green": timing.max_green,
    }


@app.command("run")
def run_command(
    controller: Annotated[
        list[str], typer.Option("--controller", help="HOST:PORT of a signal controller; repeat for several.")
    ],
    bundle: Annotated[
        Path | None,
        typer.Option("--bundle", help="Controller bundle (ernie-traffic export); else the built-in rule."),
    ] = None,
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
    longest-queue rule (for checking the link). Stops by itself when the controllers go away or stay
    idle. Exits 2 with a one-line reason when a controller cannot be reached (wrong port, wrong
    community, wrong SNMPv3 keys) or is not in the bundle.
    """
    from ernie_deploy.snmp_client import ControllerUnreachable, NtcipClient, SnmpCredentials
    from ernie_deploy.snmp_runner import bundle_policy, longest_queue, run_intersection

    loaded = _load_bundle(bundle) if bundle is not None else None
    credentials = SnmpCredentials(snmp_version, community, user, auth_key, priv_key)
    loops = []
    for address in controller:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise UserInputError(f"--controller {address!r}: expected HOST:PORT, e.g. 127.0.0.1:16100")
        try:
            client = NtcipClient(host, int(port), credentials, timeout_s=timeout)
            tls = client.intersection_id()
            call_phases = client.call_phases()
        except ControllerUnreachable as error:
            raise UserInputError(f"controller {address}: {error}") from None
        runtime = None
        if loaded is None:
            decide = longest_queue(call_phases)
        elif tls not in loaded.intersections:
            raise UserInputError(f"controller {address} runs {tls!r}, which {bundle} has no controller for")
        else:
            decide, runtime = bundle_policy(loaded, tls, deadline_s=deadline)
        loops.append((address, tls, client, decide, runtime))
    reports: dict[str, str] = {}

    def serve(address: str, tls: str, client: NtcipClient, decide, runtime) -> None:
        stats = run_intersection(
            client,
            decide,
            poll_interval_s=poll_interval,
            idle_timeout_s=idle_timeout,
            max_decisions=max_decisions,
        )
        client.close()
        trips = sorted(stats.round_trip_s) or [0.0]
        median, p99 = trips[len(trips) // 2], trips[min(len(trips) - 1, int(0.99 * len(trips)))]
        fallbacks = f", {sum(runtime.fallbacks.values())} by the fallback plan" if runtime else ""
        reports[address] = (
            f"{address} ({tls}): {stats.decisions} decisions{fallbacks}, round trip median "
            f"{median * 1e3:.2f} ms p99 {p99 * 1e3:.2f} ms; stopped: {stats.stopped_because}"
        )

    threads = [threading.Thread(target=serve, args=loop, daemon=True) for loop in loops]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for address in controller:
        typer.echo(reports.get(address, f"{address}: no report"))
