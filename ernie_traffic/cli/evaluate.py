"""``ernie-traffic evaluate``: trained or classical controllers on a network, same seeds, same metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def evaluate_command(
    controllers: Annotated[
        list[str],
        typer.Argument(
            help="Run directories of trained controllers and/or classical controller names "
            "(fixed-time, actuated, actuated-detector, max-pressure, webster, random)."
        ),
    ],
    network: Annotated[
        str | None,
        typer.Option("--network", help="Network to evaluate on (default: the first run's training network)."),
    ] = None,
    episodes: Annotated[int, typer.Option("--episodes", min=1, help="Evaluation episodes (seeds).")] = 2,
    output: Annotated[Path | None, typer.Option("--output", help="Write the results as JSON here.")] = None,
) -> None:
    """Evaluate controllers side by side and print mean delay, travel time and throughput."""
    import torch

    torch.set_num_threads(1)
    from ernie_traffic.controllers import classical_controller, load_controller
    from ernie_traffic.evaluation import evaluate, evaluation_seeds
    from ernie_traffic.training.config import TrainConfig
    from ernie_traffic.training.progress import evaluation_table
    from ernie_traffic.training.run_dir import RunDirectory
    from ernie_traffic.utils.config_files import load_config
    from ernie_traffic.utils.io import atomic_write_json

    runs = [c for c in controllers if Path(c).is_dir()]
    env_config = load_config(TrainConfig, RunDirectory(runs[0]).config).env if runs else None
    if env_config is None or network is not None:
        from ernie_traffic.envs.traffic import TrafficEnvConfig

        env_config = (env_config or TrafficEnvConfig()).model_copy(update={"network": network or "grid2x2"})
    seeds = evaluation_seeds(episodes)
    results = {}
    for name in controllers:
        controller = (
            load_controller(name)
            if Path(name).is_dir()
            else classical_controller(name, env_config.network, env_config.route_files, Path.cwd())
        )
        results[controller.name] = evaluate(controller, env_config, seeds)
    Console(highlight=False).print(evaluation_table(results, title=f"evaluation on {env_config.network}"))
    if output is not None:
        atomic_write_json(output, results)
        Console(highlight=False).print(f"results: {output}")
