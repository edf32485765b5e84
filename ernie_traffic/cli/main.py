"""Entry point of ``ernie-traffic``. Each command group lives in its own module of this package."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

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
    """Run the CLI; user errors print one ``error:`` line each and exit with status 2.

    Bad command lines (an option value out of its range or of the wrong type, a missing argument, an
    unknown option) are user errors like any other: one ``error:`` line, not click's usage box.
    """
    _register_commands()
    try:
        status = app(standalone_mode=False)
    except UserInputError as exc:
        if _state["debug"]:
            raise
        _print_errors(str(exc).splitlines() or [type(exc).__name__])
        sys.exit(2)
    except typer.TyperException as exc:  # typer's command-line errors (its vendored click's)
        if type(exc).__name__ == "NoArgsIsHelpError":  # a group called without a command: its help
            exc.show()
        else:
            _print_errors([exc.format_message()])
        sys.exit(exc.exit_code)
    sys.exit(status if isinstance(status, int) else 0)


def _print_errors(lines: list[str]) -> None:
    for line in lines:
        _stderr.print(f"[bold red]error:[/] {escape(line)}")
