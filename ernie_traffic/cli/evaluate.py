"""``ernie-traffic evaluate``: trained, exported or classical controllers on a network, same seeds,
same metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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
    from ernie_traffic.controllers.resolve import is_learned, resolve_controller
    from ernie_traffic.envs.traffic import TrafficEnvConfig
    from ernie_traffic.evaluation import evaluate, evaluation_seeds
    from ernie_traffic.training.progress import evaluation_table
    from ernie_traffic.utils.io import atomic_write_json

    learned = [argument for argument in controllers if is_learned(argument)]
    env_config = _trained_env(learned[0]) if learned else TrafficEnvConfig()
    if network is not None:
        env_config = env_config.model_copy(update={"network": network})
    seeds = evaluation_seeds(episodes)
    results = {}
    for argument in controllers:
        controller = resolve_controller(argument, env_config.network, env_config.route_files, Path.cwd())
        results[controller.name] = evaluate(controller, env_config, seeds)
    Console(highlight=False).print(evaluation_table(results, title=f"evaluation on {env_config.network}"))
    if output is not None:
        atomic_write_json(output, results)
        Console(highlight=False).print(f"results: {output}")


def _trained_env(argument: str) -> Any:  # -> TrafficEnvConfig
    """The environment a learned controller was trained in: its run's config, or the run config its
    bundle was exported with."""
    from ernie_traffic.controllers.resolve import load_learned
    from ernie_traffic.runs import RunDirectory
    from ernie_traffic.training.config import TrainConfig
    from ernie_traffic.utils.config_files import build_config, load_config

    bundle = getattr(load_learned(argument), "bundle", None)  # loading checks the argument
    if bundle is None:
        return load_config(TrainConfig, RunDirectory(argument).config).env
    return build_config(TrainConfig, dict(bundle.training.get("config", {})), f"{argument}: manifest").env
