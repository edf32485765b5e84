"""``ernie-traffic train``: train a QCOMBO/COMA controller (plain, ERNIE, ERNIE-A) on a network."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ernie_traffic.cli.options import Quiet, parse_seeds
from ernie_traffic.utils.config_files import load_config


def train_command(
    config_file: Annotated[
        Path | None, typer.Option("--config", help="YAML or TOML file of TrainConfig fields.")
    ] = None,
    network: Annotated[
        str | None,
        typer.Option(
            "--network", help="Bundled or RESCO network name, or a .net.xml path (default: grid2x2)."
        ),
    ] = None,
    routes: Annotated[
        list[Path] | None, typer.Option("--routes", help="Route file(s) replacing the network's own.")
    ] = None,
    algo: Annotated[
        str | None, typer.Option("--algo", help="Learner: qcombo or coma (default: qcombo).")
    ] = None,
    reg: Annotated[
        str | None,
        typer.Option("--reg", help="Regularizer: none, ernie, ernie-a or gaussian (default: ernie)."),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option("--mode", help="ERNIE gradient: plain, stackelberg or stackelberg-fd (default: plain)."),
    ] = None,
    weight: Annotated[
        float | None, typer.Option("--lambda", help="Regularizer weight λ (default: 0.5).")
    ] = None,
    epsilon: Annotated[
        float | None,
        typer.Option(
            "--epsilon",
            help="Largest perturbation radius ε (default: 0.05); smaller where the network's detectors "
            "report little (regularizer.epsilon_readings, docs/training.md).",
        ),
    ] = None,
    episodes: Annotated[
        int | None, typer.Option("--episodes", help="Training episodes (default: 15).")
    ] = None,
    domain_randomization: Annotated[
        bool,
        typer.Option(
            "--domain-randomization",
            help="Train under randomized perturbations: each episode draws its levels from the config's "
            "domain_randomization ranges (default: speed_factor, demand_scale and observation_noise "
            "in [0, 0.5]).",
        ),
    ] = False,
    rollout_workers: Annotated[
        int | None,
        typer.Option(
            "--rollout-workers",
            min=1,
            help="Worker processes playing the exploring episodes in parallel rounds (qcombo only; "
            "default: 1, the learner plays each episode itself).",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the run (default: 0).")] = None,
    seeds: Annotated[
        str | None,
        typer.Option("--seeds", help="Comma-separated seeds, trained in parallel processes and aggregated."),
    ] = None,
    eval_episodes: Annotated[
        int | None, typer.Option("--eval-episodes", help="Evaluation episodes after training (default: 2).")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder of run directories (default: runs).")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Run directory name (default: network-algo-reg-seedN).")
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option("--resume", help="Continue the run in this directory from its last checkpoint."),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Train a traffic-signal controller, then rank it beside actuated, max-pressure, Webster and fixed-time.

    With no arguments: ERNIE-QCOMBO on the bundled 2×2 grid, a few minutes on a laptop.
    """
    from ernie_traffic.training.config import DEFAULT_DOMAIN_RANDOMIZATION, TrainConfig
    from ernie_traffic.training.loop import train
    from ernie_traffic.training.progress import evaluation_table
    from ernie_traffic.training.seeds import train_seeds
    from ernie_traffic.utils.progress import episode_progress

    if resume is not None and config_file is None:
        config_file = resume / "config.yaml"
    overrides = {
        "env.network": network,
        "env.route_files": [str(r) for r in routes] if routes else None,
        "algo": algo,
        "reg": reg,
        "regularizer.mode": mode,
        "regularizer.weight": weight,
        "regularizer.epsilon": epsilon,
        "episodes": episodes,
        "rollout_workers": rollout_workers,
        "seed": seed,
        "eval_episodes": eval_episodes,
        "out_dir": str(out_dir) if out_dir else None,
        "name": name,
    }
    config = load_config(TrainConfig, config_file, **overrides)
    if domain_randomization and not config.domain_randomization:
        config = config.model_copy(update={"domain_randomization": DEFAULT_DOMAIN_RANDOMIZATION})
    console = Console(highlight=False)
    if seeds is not None:
        parent, _, aggregate = train_seeds(config, parse_seeds(seeds), resume=resume is not None)
        for controller, metrics in aggregate["controllers"].items():
            delay = metrics["mean_delay"]
            console.print(f"{controller}: mean delay {delay['mean']:.1f} ± {delay['std']:.1f} s")
        console.print(f"results: {parent}")
        return

    done = 0
    if resume is not None:
        from ernie_traffic.runs import RunDirectory
        from ernie_traffic.training.loop import load_training_checkpoint

        done = load_training_checkpoint(RunDirectory(resume))["episode"]
    description = f"{config.algo}/{config.reg} on {Path(config.env.network).name}"
    run_dir = resume or config.out_dir / config.run_name()
    try:
        shown = "return {return:>9.1f}  delay {mean_delay:>6.1f} s"
        with episode_progress(description, config.episodes, done, quiet, shown) as on_episode:
            result = train(config, run_dir, resume=resume is not None, on_episode=on_episode)
    except KeyboardInterrupt:
        console.print(f"interrupted; continue with: ernie-traffic train --resume {run_dir}")
        raise typer.Exit(130) from None
    if result.evaluation and not quiet:
        console.print(evaluation_table(result.evaluation, title=f"evaluation on {config.env.network}"))
    console.print(f"results: {result.run_dir}")
