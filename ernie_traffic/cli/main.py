"""Entry point of ``ernie-traffic``. Each command group lives in its own module of this package."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from ernie_traffic import __version__
from ernie_traffic.errors import UserInputError

app = typer.Typer(
    name="ernie-traffic",
    help="Robust traffic-signal control: train ERNIE agents on SUMO networks, stress-test them "
    "against classical controllers, export and deploy them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_state = {"debug": False}
_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ernie-traffic {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    _state["debug"] = debug


def _register_commands() -> None:
    # Imported here so that `import ernie_traffic.cli.main` stays cheap for `--help`.
    from ernie_traffic.cli import deploy, evaluate, export, lab, networks, stress, study, train

    app.add_typer(networks.app, name="networks")
    app.command("train")(train.train_command)
    app.command("evaluate")(evaluate.evaluate_command)
    app.command("export")(export.export_command)
    app.command("stress-test")(stress.stress_test)
    app.command("report")(stress.report)
    app.command("study")(study.study_command)
    app.add_typer(deploy.app, name="deploy")
    app.add_typer(lab.app, name="lab")


def main() -> None:
    """Run the CLI; user errors print one ``error:`` line each and exit with status 2."""
    _register_commands()
    try:
        app()
    except UserInputError as exc:
        if _state["debug"]:
            raise
        for line in str(exc).splitlines() or [type(exc).__name__]:
            _stderr.print(f"[bold red]error:[/] {line}")
        sys.exit(2)
