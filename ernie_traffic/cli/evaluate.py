"""``ernie-traffic evaluate``: trained, exported or classical controllers on a network, same seeds,
same metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def evaluate_command(
    controllers: Annotated[
        list[str],
        typer.Argument(
            help="Run directories of trained controllers, exported bundles and/or classical controller "
            "names (fixed-time, actuated, actuated-detector, max-pressure, webster, random)."
        ),
    ],
    network: Annotated[
        str | None,
        typer.Option("--network", help="Network to evaluate on (default: the first run's or bundle's)."),
    ] = None,
    episodes: Annotated[int, typer.Option("--episodes", min=1, help="Evaluation episodes (seeds).")] = 2,
    output: Annotated[Path | None, typer.Option("--output", help="Write the results as JSON here.")] = None,
) -> None:
    """Evaluate controllers side by side and print mean delay, travel time and throughput."""
    from ernie_traffic.evaluation.evaluate import evaluate_controllers, evaluation_seeds
    from ernie_traffic.training.config import trained_env
    from ernie_traffic.training.progress import evaluation_table
    from ernie_traffic.utils.io import atomic_write_json

    env_config = trained_env(controllers)
    if network is not None:
        env_config = env_config.model_copy(update={"network": network})
    results = evaluate_controllers(controllers, env_config, evaluation_seeds(episodes), Path.cwd())
    Console(highlight=False).print(evaluation_table(results, title=f"evaluation on {env_config.network}"))
    if output is not None:
        atomic_write_json(output, results)
        Console(highlight=False).print(f"results: {output}")
