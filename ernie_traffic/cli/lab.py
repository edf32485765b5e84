"""``ernie-traffic lab``: ERNIE beyond traffic — particle games and many-agent mean-field navigation."""

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table

from ernie_traffic.cli.options import Address, Backend, Workers, parse_seeds
from ernie_traffic.errors import UserInputError
from ernie_traffic.lab.config import MEANFIELD_LEARNERS, PARTICLE_LEARNERS, LabRunConfig
from ernie_traffic.utils.config_files import load_config

app = typer.Typer(
    help="ERNIE on the multi-agent particle environments (mpe2), mean-field cooperative navigation and "
    "multi-drone hover (pybullet).",
    no_args_is_help=True,
)
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
        env_field: Annotated[
            list[str] | None,
            typer.Option(
                "--env",
                help="FIELD=VALUE: evaluate in a changed env, e.g. --env mass_scale=1.3 --env wind_speed=2 "
                "(drones); repeatable.",
            ),
        ] = None,
    ) -> None:
        """Return versus observation noise (and PGD attack); writes RUN_DIR/evaluation.json."""
        from ernie_traffic.lab.evaluate import episode_returns, noise_sweep
        from ernie_traffic.lab.train import load_learner
        from ernie_traffic.runs import RunDirectory

        levels = _levels("--noise", noise)
        if not levels:
            raise UserInputError(f"--noise {noise!r}: expected one or more levels >= 0")
        run_config, learner = load_learner(run_dir)
        env = _changed_env(run_config.env, env_field or [])
        rows = noise_sweep(learner, env, levels, episodes, seed)
        result: dict = {"run": str(run_dir), "episodes": episodes, "seed": seed, "noise_sweep": rows}
        if env_field:
            result["env"] = env.model_dump(mode="json")
        table = Table("noise σ", "mean return", "std")
        for row in rows:
            table.add_row(f"{row['noise']:g}", f"{row['mean_return']:.2f}", f"{row['std_return']:.2f}")
        if attack_epsilon > 0:
            attacked = episode_returns(learner, env, episodes, seed, attack_epsilon=attack_epsilon)
            result["attack"] = {"epsilon": attack_epsilon, "mean_return": float(attacked.mean())}
            table.add_row(f"PGD ε={attack_epsilon:g}", f"{attacked.mean():.2f}", f"{attacked.std():.2f}")
        RunDirectory(run_dir).save_evaluation(result)
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
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Sweep directory; running the same sweep again resumes it.")
    ],
    noise: Annotated[
        str, typer.Option(help="Comma-separated observation-noise levels σ (0 = the unperturbed baseline).")
    ] = DEFAULT_NOISE,
    attack: Annotated[
        str,
        typer.Option(help="Comma-separated ℓ2 radii ε of the core's PGD observation attack ('' for none)."),
    ] = DEFAULT_ATTACK,
    episodes: Annotated[int, typer.Option(min=1, help="Evaluation episodes per cell.")] = 10,
    seeds: Annotated[str, typer.Option(help="Comma-separated evaluation seeds (one cell each).")] = "0,1,2",
    env_field: Annotated[
        list[str] | None,
        typer.Option("--env", help="FIELD=VALUE: evaluate in a changed env (as in `evaluate`); repeatable."),
    ] = None,
    random: Annotated[
        bool, typer.Option("--random/--no-random", help="Add the random-policy reference.")
    ] = True,
    backend: Backend = "process",
    workers: Workers = 2,
    address: Address = None,
    report: Annotated[
        bool, typer.Option("--report/--no-report", help="Write the report when the sweep ends.")
    ] = True,
) -> None:
    """Stress-test trained runs (and a random policy) under observation noise and the PGD attack, through
    the stress test's results file and report: OUT/results.jsonl, OUT/report.html, OUT/report.md."""
    from ernie_traffic.cli.stress import run_and_report
    from ernie_traffic.lab.stress import lab_sweep

    seed_list = parse_seeds(seeds)
    try:
        sweep = lab_sweep(
            controllers,
            _levels("--noise", noise),
            _levels("--attack", attack),
            seed_list,
            episodes,
            _env_updates(env_field or []),
            random_reference=random,
        )
    except ValidationError as exc:
        raise UserInputError(f"lab stress: {exc.errors()[0]['msg']}") from exc
    run_and_report(sweep, out, backend, workers, address, report)


def _levels(option: str, text: str) -> list[float]:
    """Comma-separated levels >= 0."""
    try:
        levels = [float(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise UserInputError(f"{option} {text!r}: expected comma-separated numbers") from exc
    if levels and min(levels) < 0:
        raise UserInputError(f"{option} {text!r}: levels must be >= 0")
    return levels


def _env_updates(assignments: list[str]) -> dict[str, Any]:
    """``FIELD=VALUE`` assignments as a mapping (values parsed as YAML scalars)."""
    updates = {}
    for assignment in assignments:
        field, sep, value = assignment.partition("=")
        if not sep or not field:
            raise UserInputError(f"--env {assignment!r}: expected FIELD=VALUE")
        updates[field] = yaml.safe_load(value)
    return updates


def _changed_env(env: BaseModel, assignments: list[str]) -> BaseModel:
    """``env`` with ``FIELD=VALUE`` assignments applied and validated."""
    updates = _env_updates(assignments)
    fields = type(env).model_fields
    if unknown := [field for field in updates if field not in fields]:
        raise UserInputError(f"--env {', '.join(unknown)}: unknown; env fields: {', '.join(fields)}")
    try:
        return type(env).model_validate({**env.model_dump(), **updates})
    except ValidationError as exc:
        raise UserInputError(f"--env {' '.join(assignments)}: {exc.errors()[0]['msg']}") from exc


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
