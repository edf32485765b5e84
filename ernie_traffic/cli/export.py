"""``ernie-traffic export``: a trained run -> an ONNX controller bundle for ``ernie_deploy``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def export_command(
    run: Annotated[Path, typer.Argument(help="Training run directory (holds config.yaml and policy.pt).")],
    out: Annotated[Path, typer.Option("--out", help="Bundle folder to create (must be new or empty).")],
    record_steps: int = typer.Option(
        500, "--record-steps", min=1, help="Decisions of the trained policy recorded for the parity check."
    ),
    random_observations: int = typer.Option(
        2000, "--random", min=0, help="Random observations per intersection added to the parity check."
    ),
    simplify: bool = typer.Option(
        False,
        "--simplify",
        help="Fold constants, fuse nodes (onnxruntime basic level); parity re-checked.",
    ),
    opset: int = typer.Option(17, "--opset", min=13, help="ONNX opset of the exported models."),
    seed: int = typer.Option(0, "--seed", help="Seed of the recorded episode and the random observations."),
    sign_key: Annotated[
        Path | None,
        typer.Option(
            "--sign-key",
            help="Ed25519 private key (PEM, from `deploy keygen`): sign the manifest (manifest.sig).",
        ),
    ] = None,
) -> None:
    """Export a trained controller: one ONNX model per intersection plus manifest.json.

    Checks before it returns: onnx.checker, and onnxruntime against PyTorch on recorded and random
    observations (max abs difference ≤ 1e-5, identical greedy choices); the numbers are printed.
    Run the bundle with `python -m ernie_deploy BUNDLE` or `ernie_deploy.ControllerRuntime`.
    """
    from ernie_traffic.export.bundle import ExportError
    from ernie_traffic.export.run import export_run

    console = Console(highlight=False, soft_wrap=True)
    try:
        result = export_run(
            run,
            out,
            record_steps=record_steps,
            n_random=random_observations,
            simplify=simplify,
            opset=opset,
            seed=seed,
            sign_key=sign_key,
        )
    except ExportError as exc:
        console.print(f"[bold red]export failed:[/] {exc}")
        raise typer.Exit(1) from None
    for report in result.parity:
        console.print(report.line())
    signed = f", manifest signed by key {result.signed_by}" if result.signed_by else ""
    console.print(f"bundle: {result.bundle.root} ({len(result.bundle.intersections)} intersections){signed}")
