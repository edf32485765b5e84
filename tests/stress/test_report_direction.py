"""The report reads a metric the way it points: a longer delay and a lower return are both losses,
and the ranking puts the best controller first in the metric's own direction (synthetic records)."""

from __future__ import annotations

import ernie_traffic.lab.stress  # noqa: F401  (plugs the lab's cells into the stress test: a lab sweep below)
from ernie_traffic.stress import Family, StressPlan, Sweep
from ernie_traffic.stress.report import write_report
from ernie_traffic.stress.sweep import RESULTS_FILE, SWEEP_FILE
from ernie_traffic.utils.config_files import save_or_match_config
from ernie_traffic.utils.io import append_jsonl


def synthetic_report(tmp_path, sweep: Sweep, metric: str, values: dict[tuple[str, object], float]) -> str:
    """The Markdown report of ``sweep`` whose cells recorded ``values[(controller, level)]`` of ``metric``."""
    save_or_match_config(sweep, tmp_path / SWEEP_FILE, "sweep")
    family = sweep.plan.families[0]
    for (controller, level), value in values.items():
        name = "baseline" if level is None else family.name
        record = {"key": f"{controller}|{name}|{level}|0", "controller": controller, "family": name}
        append_jsonl(
            tmp_path / RESULTS_FILE, {**record, "level": level, "status": "ok", "metrics": {metric: value}}
        )
    return write_report(tmp_path)[1].read_text()


def table_rows(md: str, heading: str) -> list[list[str]]:
    section = md.split(f"## {heading}")[1].split("\n## ")[0]
    return [
        [c.strip() for c in line.strip("|").split(" | ")]
        for line in section.splitlines()
        if line.startswith("| ")
    ]


def report_rows(md: str, heading: str) -> dict[str, list[str]]:
    """The rows of a section's table keyed by their line (the second column of the ranking)."""
    return {row[1]: row for row in table_rows(md, heading)[1:]}


def degradation_by_line(md: str, heading: str) -> dict[str, str]:
    """The degradation table of a one-level plan: line -> its degradation (levels down, lines across)."""
    header, row = table_rows(md, heading)
    return dict(zip(header[2:], row[2:], strict=True))


def test_lower_return_under_noise_is_reported_as_a_loss(tmp_path):
    plan = StressPlan(
        seeds=[0],
        metric="episode_return",
        episodes=2,
        families=[
            Family(name="noise", perturbation="observation_noise", levels=[0.5], scale="value", nominal=0)
        ],
    )
    env = {"family": "particle", "task": "simple_spread"}
    sweep = Sweep(
        domain="lab", network="particle simple_spread N=3", controllers=["a", "b"], plan=plan, env=env
    )
    # a: -10 -> -15 (return falls by half: a loss); b: -20 -> -18 (a gain), yet a still scores higher
    md = synthetic_report(
        tmp_path,
        sweep,
        "episode_return",
        {("a", None): -10, ("a", 0.5): -15, ("b", None): -20, ("b", 0.5): -18},
    )
    degradation = degradation_by_line(md, "Degradation of episode_return")
    assert degradation == {"a": "50.0% worse", "b": "10.0% better"}
    ranking = report_rows(md, "Ranking")
    assert list(ranking) == ["a", "b"]  # higher return under stress ranks first
    assert ranking["a"][4].strip() == "50.0% worse"


def test_longer_delay_is_reported_as_a_loss(tmp_path):
    plan = StressPlan(seeds=[0], families=[Family(name="speed", perturbation="speed_factor", levels=[0.5])])
    sweep = Sweep(network="grid2x2", controllers=["fixed-time", "max-pressure"], plan=plan)
    md = synthetic_report(
        tmp_path,
        sweep,
        "mean_delay",
        {
            ("fixed-time", None): 20,
            ("fixed-time", 0.5): 30,
            ("max-pressure", None): 10,
            ("max-pressure", 0.5): 9,
        },
    )
    degradation = degradation_by_line(md, "Degradation of mean_delay")
    assert degradation == {"fixed-time": "50.0% worse", "max-pressure": "10.0% better"}
    assert list(report_rows(md, "Ranking")) == ["max-pressure", "fixed-time"]  # lower delay ranks first
