"""``ernie-traffic lab``: ERNIE beyond traffic — particle games and many-agent mean-field navigation."""

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from ernie_traffic.cli.options import Address, Backend, Report, SweepOut, Workers, parse_levels, parse_seeds
from ernie_traffic.errors import UserInputError
from ernie_traffic.lab.config import MEANFIELD_LEARNERS, PARTICLE_LEARNERS, LabRunConfig
from ernie_traffic.utils.config_files import load_config

app = typer.Typer(
    help="ERNIE on the multi-agent particle environments (mpe2), mean-field cooperative navigation and "
    "multi-drone hover (pybullet).",
    no_args_is_help=True,
)
EnvFields = Annotated[
    list[str] | None,
    typer.Option(
        "--env",
        help="FIELD=VALUE: evaluate in a changed env, e.g. --env mass_scale=1.3 --env wind_speed=2 (drones); "
        "repeatable.",
    ),
]
DEFAULT_NOISE = "0,0.05,0.1,0.2,0.3"
DEFAULT_ATTACK = "0.05,0.1,0.3"


def _group(family: str, learners: tuple[str, ...], help_text: str) -> typer.Typer:
    group = typer.Typer(help=help_text, no_args_is_help=True)

    @group.command("train")
    def train_command(
        run_dir: Annotated[
            Path, typer.Argument(help="Run directory: config.yaml, checkpoint.pt, metrics.jsonl.")
        ],
        config: Annotated[
            Path | None, typer.Option(help="YAML/TOML run config (fields in docs/lab.md).")
        ] = None,
        learner: Annotated[str | None, typer.Option(help="One of: " + ", ".join(learners) + ".")] = None,
        task: Annotated[
            str | None, typer.Option(help="Particle task (simple_spread, simple_tag, ...).")
        ] = None,
        n_agents: Annotated[
            int | None, typer.Option(help="Agents in cooperative navigation; drones in drones runs.")
        ] = None,
        episodes: Annotated[int | None, typer.Option(help="Training episodes.")] = None,
        seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
        resume: Annotated[
            bool, typer.Option(help="Continue the run in RUN_DIR from its checkpoint.")
        ] = False,
        quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    ) -> None:
        """Train a learner; checkpoints go to RUN_DIR, --resume continues an interrupted run."""
        from ernie_traffic.lab.train import train

        overrides = {
            "learner": learner,
            "env.task": task,
            "env.n_drones" if family == "drones" else "env.n_agents": n_agents,
            "episodes": episodes,
            "seed": seed,
        }
        if resume:
            given = [f"--{k.split('.')[-1].replace('_', '-')}" for k, v in overrides.items() if v is not None]
            if config is not None or given:
                raise UserInputError(
                    f"--resume continues {run_dir} with its own config.yaml; drop {given or '--config'}"
                )
            run_config = None
        else:
            fixed = {"env.nearest_neighbors": True} if family == "meanfield" else {}
            run_config = load_config(LabRunConfig, config, family=family, **overrides, **fixed)
        train(run_config, run_dir, resume=resume, quiet=quiet)
        typer.echo(f"trained {family}: {run_dir}")

    @group.command("evaluate")
    def evaluate_command(
        run_dir: Annotated[Path, typer.Argument(help="A trained run directory.")],
        noise: Annotated[
            str, typer.Option(help="Comma-separated observation-noise levels σ.")
        ] = DEFAULT_NOISE,
        episodes: Annotated[int, typer.Option(min=1, help="Evaluation episodes per noise level.")] = 20,
        attack_epsilon: Annotated[
            float, typer.Option(min=0.0, help="Also evaluate under the core's PGD attack of this ℓ2 radius.")
        ] = 0.0,
        seed: Annotated[int, typer.Option(help="Seed of the evaluation episodes and noise.")] = 0,
        env_field: EnvFields = None,
    ) -> None:
        """Return versus observation noise (and PGD attack); writes RUN_DIR/evaluation.json."""
        from ernie_traffic.lab.evaluate import evaluate_run

        levels = parse_levels(noise, "--noise", required=True)
        result = evaluate_run(run_dir, levels, episodes, seed, attack_epsilon, _env_updates(env_field or []))
        table = Table("noise σ", "mean return", "std")
        for row in result["noise_sweep"]:
            table.add_row(f"{row['noise']:g}", f"{row['mean_return']:.2f}", f"{row['std_return']:.2f}")
        if attack := result.get("attack"):
            table.add_row(
                f"PGD ε={attack_epsilon:g}", f"{attack['mean_return']:.2f}", f"{attack['std_return']:.2f}"
            )
        Console().print(table)

    return group


@app.command("stress")
def stress_command(
    controllers: Annotated[
        list[str],
        typer.Argument(
            help="Trained run directories (any lab family, all fitting the first run's env), or "
            "LABEL=RUN_DIR,RUN_DIR,... to pool several runs (e.g. one learner's training seeds) under one "
            "label.",
            show_default=False,
        ),
    ],
    out: SweepOut,
    noise: Annotated[
        str, typer.Option(help="Comma-separated observation-noise levels σ (0 = the unperturbed baseline).")
    ] = DEFAULT_NOISE,
    attack: Annotated[
        str,
        typer.Option(help="Comma-separated ℓ2 radii ε of the core's PGD observation attack ('' for none)."),
    ] = DEFAULT_ATTACK,
    episodes: Annotated[int, typer.Option(min=1, help="Evaluation episodes per cell.")] = 10,
    seeds: Annotated[str, typer.Option(help="Comma-separated evaluation seeds (one cell each).")] = "0,1,2",
    env_field: EnvFields = None,
    random: Annotated[
        bool, typer.Option("--random/--no-random", help="Add the random-policy reference.")
    ] = True,
    backend: Backend = "process",
    workers: Workers = 2,
    address: Address = None,
    report: Report = True,
) -> None:
    """Stress-test trained runs (and a random policy) under observation noise and the PGD attack, through
    the stress test's results file and report: OUT/results.jsonl, OUT/report.html, OUT/report.md."""
    from ernie_traffic.cli.stress import run_and_report
    from ernie_traffic.lab.stress import lab_sweep

    sweep = lab_sweep(
        controllers,
        parse_levels(noise, "--noise"),
        parse_levels(attack, "--attack"),
        parse_seeds(seeds),
        episodes,
        _env_updates(env_field or []),
        random_reference=random,
    )
    run_and_report(sweep, out, backend, workers, address, report)


def _env_updates(assignments: list[str]) -> dict[str, Any]:
    """``FIELD=VALUE`` assignments as a mapping (values parsed as YAML scalars)."""
    updates = {}
    for assignment in assignments:
        field, sep, value = assignment.partition("=")
        if not sep or not field:
            raise UserInputError(f"--env {assignment!r}: expected FIELD=VALUE")
        updates[field] = yaml.safe_load(value)
    return updates


app.add_typer(
    _group(
        "particle",
        PARTICLE_LEARNERS,
        "MADDPG, M3DDPG, MADDPG+ERNIE, MADDPG+Baseline-Gaussian on particle games.",
    ),
    name="particle",
)
app.add_typer(
    _group("meanfield", MEANFIELD_LEARNERS, "Mean-field MADDPG and mean-field ERNIE on N-agent navigation."),
    name="meanfield",
)
app.add_typer(
    _group(
        "drones",
        PARTICLE_LEARNERS,
        "MADDPG and its variants on multi-drone hover (PyFlyt on pybullet; needs the drones extra).",
    ),
    name="drones",
)
