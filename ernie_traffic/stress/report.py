"""The stress report: one self-contained HTML file (plots embedded as base64 PNG) and a Markdown twin.

Sections: ranking, per family a metric-vs-severity plot with seed-spread bands (paper figs. 1–2),
a percentile plot of per-seed outcomes (fig. 5a/b) and the plotted numbers, the degradation table,
the learned controllers' empirical Lipschitz constants, failed cells, and provenance.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from ernie_traffic.stress.bundled import is_bundle
from ernie_traffic.stress.cells import BASELINE
from ernie_traffic.stress.plan import NETWORK, Family, direction
from ernie_traffic.stress.summary import Summary, summarize
from ernie_traffic.stress.sweep import (
    PROVENANCE_FILE,
    SWEEP_FILE,
    controller_name,
    expand_cells,
    latest_records,
    level_setting,
    load_sweep,
)
from ernie_traffic.utils.io import atomic_write_bytes, atomic_write_text

HTML_FILE = "report.html"
MARKDOWN_FILE = "report.md"
FIGURE_DIR = "report_figures"
BUNDLE_LIPSCHITZ = "not measured: an exported bundle has no gradients (measure its run directory)"


@dataclass(frozen=True)
class Figure:
    name: str  # file stem under report_figures/
    caption: str
    png: bytes


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    """A degradation (> 0 = worse, see :meth:`Summary.degradation`) in words that read the same for a
    lower-is-better metric (delay) and a higher-is-better one (return)."""
    if value is None:
        return "–"
    if round(100 * value, 1) == 0:
        return "0.0%"
    return f"{abs(100 * value):.1f}% {'worse' if value > 0 else 'better'}"


def _axis_label(metric: str) -> str:
    return f"{metric} ({direction(metric)})"


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _family_figure(summary: Summary, family: Family) -> Figure:
    metrics = summary.sweep.metrics
    columns = min(3, len(metrics))
    rows = -(-len(metrics) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(4.4 * columns, 3.5 * rows), squeeze=False, layout="constrained"
    )
    categorical = family.perturbation == NETWORK
    for ax in axes.flat[len(metrics) :]:
        ax.set_axis_off()
    for ax, metric in zip(axes.flat, metrics, strict=False):
        for controller in summary.sweep.controllers:
            points = summary.series(controller, family, metric)
            if not points:
                continue
            xs = list(range(len(points))) if categorical else [float(x) for x, _ in points]
            mean = [s.mean for _, s in points]
            line = ax.plot(xs, mean, marker="o", label=controller_name(summary.sweep, controller))[0]
            ax.fill_between(xs, [s.low for _, s in points], [s.high for _, s in points],
                            color=line.get_color(), alpha=0.2)  # fmt: skip
            ax.set_xticks(xs, [_tick(summary, family, x) for x, _ in points], fontsize=7)
        ax.set_title(metric)
        ax.set_ylabel(_axis_label(metric), fontsize=8)
        ax.set_xlabel("network" if categorical else f"{family.perturbation} {family.scale}")
        ax.grid(alpha=0.3)
    if axes[0, 0].get_legend_handles_labels()[0]:
        axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"{family.name}: mean over seeds, band = seed range")
    caption = f"{family.name}: every metric against {family.perturbation} level; band spans the seeds."
    return Figure(f"{family.name}_levels", caption, _png(fig))


def _tick(summary: Summary, family: Family, level: float | str) -> str:
    if family.perturbation == NETWORK or family.scale == "value":
        return f"{level:g}" if isinstance(level, float | int) else str(level)
    return f"{level:g}\n{level_setting(summary.sweep, family, level)}"


def _percentile_figure(summary: Summary, family: Family) -> Figure:
    """Sorted per-seed outcomes over the family's perturbed levels (robustness across seeds)."""
    metric = summary.metric
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    for controller in summary.sweep.controllers:
        outcomes = sorted(
            v
            for level in family.levels
            if (s := summary.stat(controller, family.name, level, metric)) is not None
            for v in s.values
        )
        if outcomes:
            percentiles = np.linspace(0, 100, len(outcomes)) if len(outcomes) > 1 else [50.0]
            ax.plot(percentiles, outcomes, marker=".", label=controller_name(summary.sweep, controller))
    ax.set_xlabel("percentile of per-seed outcomes")
    ax.set_ylabel(_axis_label(metric))
    ax.set_title(f"{family.name}: {metric} percentiles")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    caption = f"{family.name}: sorted per-seed {metric} over all perturbed levels (paper fig. 5a/b style)."
    return Figure(f"{family.name}_percentiles", caption, _png(fig))


# --- tables, as (header, rows) so HTML and Markdown render the same numbers --------------------------

Table = tuple[list[str], list[list[str]]]


def _family_table(summary: Summary, family: Family) -> Table:
    metrics = summary.sweep.metrics
    header = ["controller", "level", "setting", *[f"{m} (mean ± std)" for m in metrics], "seeds"]
    rows = []
    for controller in summary.sweep.controllers:
        for level in [None, *family.levels]:
            fam = BASELINE if level is None else family.name
            stats = summary.stats.get((controller, fam, level))
            if not stats:
                continue
            cells = [f"{_fmt(s.mean)} ± {_fmt(s.std)}" if (s := stats.get(m)) else "–" for m in metrics]
            seeds = max(len(s.values) for s in stats.values())
            setting = "–" if level is None else level_setting(summary.sweep, family, level)
            rows.append(
                [
                    controller_name(summary.sweep, controller),
                    "unperturbed" if level is None else str(level),
                    setting,
                    *cells,
                    str(seeds),
                ]
            )
    return header, rows


def _degradation_table(summary: Summary) -> Table:
    columns = [(f.name, level) for f in summary.sweep.plan.families for level in f.levels]
    header = ["controller", *[f"{fam} {level}" for fam, level in columns]]
    rows = [
        [
            controller_name(summary.sweep, c),
            *[_pct(summary.degradation(c, fam, level, summary.metric)) for fam, level in columns],
        ]
        for c in summary.sweep.controllers
    ]
    return header, rows


def _ranking_table(summary: Summary) -> Table:
    header = ["rank", "controller", "unperturbed", "mean under stress", "mean degradation", "worst case"]
    rows = []
    for rank, row in enumerate(summary.ranking(), start=1):
        worst = row["worst"]
        rows.append(
            [
                str(rank),
                controller_name(summary.sweep, row["controller"]),
                _fmt(row["baseline"]),
                _fmt(row["under_stress"]),
                _pct(row["mean_degradation"]),
                f"{_pct(worst[0])} ({worst[1]} {worst[2]})" if worst else "–",
            ]
        )
    return header, rows


def _lipschitz_table(summary: Summary) -> Table:
    header = ["controller", "empirical Lipschitz constant (mean ± std over seeds)"]
    rows = []
    for controller in summary.sweep.controllers:
        stat = summary.lipschitz.get(controller)
        if stat is not None:
            name = controller_name(summary.sweep, controller)
            rows.append([name, f"{_fmt(stat.mean, 4)} ± {_fmt(stat.std, 4)}"])
        elif is_bundle(controller):
            rows.append([controller, BUNDLE_LIPSCHITZ])
    return header, rows


def _failed_table(summary: Summary) -> Table:
    header = ["cell", "attempts", "error"]
    return header, [[r["key"], str(r.get("attempts", "")), r.get("error", "")] for r in summary.failed]


# --- rendering ---------------------------------------------------------------------------------------


def _html_table(table: Table) -> str:
    header, rows = table
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _md_table(table: Table) -> str:
    header, rows = table
    if not rows:
        return "_none_\n"
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


_STYLE = """body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}
th{background:#f3f3f3}img{max-width:100%}pre{background:#f6f6f6;padding:1em;overflow-x:auto}
.failed{color:#a00}"""


def _provenance(out: Path) -> tuple[str, str]:
    sweep_yaml = (out / SWEEP_FILE).read_text(encoding="utf-8")
    path = out / PROVENANCE_FILE
    history = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    return sweep_yaml, json.dumps(history, indent=2)


def write_report(out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` (+ its PNGs) for the sweep in ``out_dir``."""
    out = Path(out_dir)
    sweep = load_sweep(out)
    expected = {c["key"] for c in expand_cells(sweep)}
    summary = summarize(sweep, latest_records(out), expected)
    sweep_yaml, provenance = _provenance(out)
    families = sweep.plan.families

    sections: list[tuple[str, str, list[Figure], list[tuple[str, Table]]]] = [
        (
            "Ranking",
            f"Controllers by mean {summary.metric} ({direction(summary.metric)}) over all perturbed cells, "
            "best first; degradation is the change of each controller's own unperturbed "
            f"{summary.metric}, as a loss (worse) or a gain (better).",
            [],
            [("", _ranking_table(summary))],
        ),
        (
            f"Degradation of {summary.metric}",
            f"Change against the controller's unperturbed run; {direction(summary.metric)}.",
            [],
            [("", _degradation_table(summary))],
        ),
    ]
    for family in families:
        figures = [_family_figure(summary, family), _percentile_figure(summary, family)]
        intro = (
            f"Perturbation `{family.perturbation}`, levels {family.levels}, params {family.params or '{}'}."
        )
        sections.append(
            (f"Family: {family.name}", intro, figures, [("Plotted numbers", _family_table(summary, family))])
        )
    sections.append(
        (
            "Empirical Lipschitz constants",
            "Measured by the core's PGD search on observations of each learned controller's unperturbed run.",
            [],
            [("", _lipschitz_table(summary))],
        )
    )
    status = f"{len(summary.failed)} failed cell(s); {summary.pending} cell(s) not yet run."
    sections.append(("Failed cells", status, [], [("", _failed_table(summary))]))

    names = [controller_name(sweep, c) for c in sweep.controllers]
    title = f"Stress report: {', '.join(names)} on {sweep.network}"
    seeds = ", ".join(map(str, sweep.plan.seeds))
    if sweep.domain == "lab":
        episodes = sweep.plan.episodes
        setting = f"Environment {sweep.network}; evaluation seeds {seeds}; {episodes} episodes per cell."
    else:
        horizon = sweep.plan.horizon or "scenario default"
        setting = f"Network {sweep.network}; seeds {seeds}; horizon {horizon} s."
    html_parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1><p>{html.escape(setting)}</p>",
    ]
    md_parts = [f"# {title}\n", f"{setting}\n"]
    md_figures: list[Figure] = []
    for heading, intro, figures, tables in sections:
        html_parts.append(f"<h2>{html.escape(heading)}</h2><p>{html.escape(intro)}</p>")
        md_parts.append(f"## {heading}\n\n{intro}\n")
        for figure in figures:
            data = base64.b64encode(figure.png).decode("ascii")
            html_parts.append(
                f"<figure><img alt='{html.escape(figure.caption)}' src='data:image/png;base64,{data}'>"
                f"<figcaption>{html.escape(figure.caption)}</figcaption></figure>"
            )
            md_parts.append(f"![{figure.caption}]({FIGURE_DIR}/{figure.name}.png)\n")
            md_figures.append(figure)
        for label, table in tables:
            if label:
                html_parts.append(f"<h3>{html.escape(label)}</h3>")
                md_parts.append(f"### {label}\n")
            html_parts.append(_html_table(table) if table[1] else "<p><em>none</em></p>")
            md_parts.append(_md_table(table))
    html_parts.append(f"<h2>Provenance</h2><h3>Sweep</h3><pre>{html.escape(sweep_yaml)}</pre>")
    html_parts.append(f"<h3>Invocations</h3><pre>{html.escape(provenance)}</pre></body></html>")
    md_parts.append(f"## Provenance\n\n### Sweep\n\n```yaml\n{sweep_yaml}```\n\n### Invocations\n\n")
    md_parts.append(f"```json\n{provenance}\n```\n")

    for figure in md_figures:
        atomic_write_bytes(out / FIGURE_DIR / f"{figure.name}.png", figure.png)
    html_path = atomic_write_text(out / HTML_FILE, "".join(html_parts))
    md_path = atomic_write_text(out / MARKDOWN_FILE, "\n".join(md_parts))
    return html_path, md_path
