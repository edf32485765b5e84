"""The stress report: one self-contained HTML file (plots embedded as base64 PNG) and a Markdown twin.

Its lines are groups of controllers (:func:`~ernie_traffic.stress.sweep.controller_groups`): the
training runs of one recipe make one line, their mean with a band over training seeds, beside each
classical controller. Sections: the verdict tables (each line's degradation against the reference
line's, with a confidence interval over training seeds, and its nominal performance), the ranking,
the degradation table, per family a metric-vs-severity plot with bands (paper figs. 1–2), a percentile
plot of per-seed outcomes (fig. 5a/b) and the plotted numbers, the learned lines' empirical Lipschitz
constants, failed cells, the lines' controllers, and provenance.
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

from ernie_traffic.controllers.bundled import is_bundle
from ernie_traffic.controllers.resolve import is_classical
from ernie_traffic.stress.plan import BASELINE, NETWORK, Family, direction
from ernie_traffic.stress.summary import CONFIDENCE, NOMINAL_TOLERANCE, Difference, Stat, Summary, summarize
from ernie_traffic.stress.sweep import (
    PROVENANCE_FILE,
    SWEEP_FILE,
    domain_of,
    expand_cells,
    latest_records,
    load_sweep,
)
from ernie_traffic.utils.io import atomic_write_bytes, atomic_write_text

HTML_FILE = "report.html"
MARKDOWN_FILE = "report.md"
FIGURE_DIR = "report_figures"
BUNDLE_LIPSCHITZ = "not measured: an exported bundle has no gradients (measure its run directory)"
TITLE_LINES = 6  # a title lists at most this many lines by name, then counts them
BAND = "band: range over training seeds (over evaluation seeds for a single controller)"


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


def _interval(difference: Difference) -> str:
    """``+1.2 [-0.3, +2.7]`` in percentage points."""
    estimate = f"{100 * difference.estimate:+.1f}"
    if difference.low is None or difference.high is None:
        return estimate
    return f"{estimate} [{100 * difference.low:+.1f}, {100 * difference.high:+.1f}]"


def _spread(stat: Stat, percent: bool = False) -> str:
    """``mean ± std`` over runs (the mean alone for a single run); ``percent``: fractions as ``+1.2%``."""
    if percent:
        mean, std = f"{100 * stat.mean:+.1f}%", f"{100 * stat.std:.1f}"
    else:
        mean, std = _fmt(stat.mean), _fmt(stat.std)
    return mean if len(stat.values) == 1 else f"{mean} ± {std}"


def _axis_label(metric: str) -> str:
    return f"{metric} ({direction(metric)})"


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def line_styles(summary: Summary) -> dict[str, dict[str, str]]:
    """One colour per line from a qualitative palette large enough for all of them (tab10, else
    tab20, cycling line styles beyond 20); classical controllers are dashed."""
    colours = plt.get_cmap("tab10" if len(summary.groups) <= 10 else "tab20").colors
    dashes = ["-", "-.", ":"]
    styles = {}
    for i, (group, members) in enumerate(summary.groups.items()):
        classical = all(is_classical(c) for c in members)
        styles[group] = {
            "color": matplotlib.colors.to_hex(colours[i % len(colours)]),
            "linestyle": "--" if classical else dashes[(i // len(colours)) % len(dashes)],
        }
    return styles


def _legend_outside(fig: plt.Figure, axes: list[plt.Axes]) -> None:
    """One legend for the figure, below its plots (never over them)."""
    handles, labels = [], []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(labels)), fontsize=8)


def levels_plot(summary: Summary, family: Family) -> plt.Figure:
    """Every metric against the family's levels: one line per group, mean with a band."""
    metrics = domain_of(summary.sweep).metrics
    columns = min(3, len(metrics))
    rows = -(-len(metrics) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(4.4 * columns, 3.5 * rows + 0.6), squeeze=False, layout="constrained"
    )
    categorical = family.perturbation == NETWORK
    styles = line_styles(summary)
    for ax in axes.flat[len(metrics) :]:
        ax.set_axis_off()
    for ax, metric in zip(axes.flat, metrics, strict=False):
        for group in summary.groups:
            points = summary.series(group, family, metric)
            if not points:
                continue
            xs = list(range(len(points))) if categorical else [float(x) for x, _ in points]
            ax.plot(xs, [s.mean for _, s in points], marker="o", label=group, **styles[group])
            ax.fill_between(xs, [s.low for _, s in points], [s.high for _, s in points],
                            color=styles[group]["color"], alpha=0.15)  # fmt: skip
            ax.set_xticks(xs, [_tick(summary, family, x) for x, _ in points], fontsize=7)
        ax.set_title(metric)
        ax.set_ylabel(_axis_label(metric), fontsize=8)
        ax.set_xlabel("network" if categorical else f"{family.perturbation} {family.scale}")
        ax.grid(alpha=0.3)
    _legend_outside(fig, list(axes.flat))
    fig.suptitle(f"{family.name}: mean, {BAND}")
    return fig


def _tick(summary: Summary, family: Family, level: float | str) -> str:
    if family.perturbation == NETWORK or family.scale == "value":
        return f"{level:g}" if isinstance(level, float | int) else str(level)
    return f"{level:g}\n{domain_of(summary.sweep).level_setting(family, level)}"


def percentiles_plot(summary: Summary, family: Family) -> plt.Figure:
    """Sorted per-seed outcomes of every run of a line over the family's perturbed levels."""
    metric = summary.metric
    fig, ax = plt.subplots(figsize=(6, 4.6), layout="constrained")
    styles = line_styles(summary)
    for group, members in summary.groups.items():
        outcomes = sorted(
            v
            for controller in members
            for level in family.levels
            if (s := summary.stat(controller, family.name, level, metric)) is not None
            for v in s.values
        )
        if outcomes:
            percentiles = np.linspace(0, 100, len(outcomes)) if len(outcomes) > 1 else [50.0]
            ax.plot(percentiles, outcomes, marker=".", label=group, **styles[group])
    ax.set_xlabel("percentile of per-seed outcomes")
    ax.set_ylabel(_axis_label(metric))
    ax.set_title(f"{family.name}: {metric} percentiles")
    ax.grid(alpha=0.3)
    _legend_outside(fig, [ax])
    return fig


def _figures(summary: Summary, family: Family) -> list[Figure]:
    levels = f"{family.name}: every metric against {family.perturbation} level; line = mean, {BAND}."
    percentiles = (
        f"{family.name}: sorted per-seed {summary.metric} of every run over all perturbed levels "
        "(paper fig. 5a/b style)."
    )
    return [
        Figure(f"{family.name}_levels", levels, _png(levels_plot(summary, family))),
        Figure(f"{family.name}_percentiles", percentiles, _png(percentiles_plot(summary, family))),
    ]


# --- tables, as (header, rows) so HTML and Markdown render the same numbers --------------------------

Table = tuple[list[str], list[list[str]]]


def _count(summary: Summary, group: str, stat: Stat) -> str:
    """How many values a group's number summarises: seeds of a controller, runs × seeds of a group."""
    members = summary.groups[group]
    if len(members) == 1:
        return str(len(stat.values))
    return f"{len(stat.values)}×{len(summary.sweep.plan.seeds)}"


def _family_table(summary: Summary, family: Family) -> Table:
    metrics = domain_of(summary.sweep).metrics
    header = ["line", "level", "setting", *metrics, "n"]
    rows = []
    for group in summary.groups:
        for level in [None, *family.levels]:
            fam = BASELINE if level is None else family.name
            stats = {m: s for m in metrics if (s := summary.group_stat(group, fam, level, m)) is not None}
            if not stats:
                continue
            cells = [f"{_fmt(s.mean)} ± {_fmt(s.std)}" if (s := stats.get(m)) else "–" for m in metrics]
            setting = "–" if level is None else domain_of(summary.sweep).level_setting(family, level)
            widest = max(stats.values(), key=lambda s: len(s.values))
            rows.append(
                [
                    group,
                    "unperturbed" if level is None else str(level),
                    setting,
                    *cells,
                    _count(summary, group, widest),
                ]
            )
    return header, rows


def _degradation_table(summary: Summary) -> Table:
    """Levels down, lines across: a plan has more levels than a study has lines."""
    groups = list(summary.groups)
    header = ["family", "level", *groups]
    rows = []
    for family in summary.sweep.plan.families:
        for level in family.levels:
            drops = [summary.group_degradation(g, family.name, level, summary.metric) for g in groups]
            rows.append([family.name, str(level), *[_pct(d.mean if d else None) for d in drops]])
    return header, rows


def _verdict_table(summary: Summary, family: Family) -> Table:
    reference = summary.sweep.reference
    metric = summary.metric
    header = [
        "line",
        "runs",
        f"nominal {metric}",
        f"nominal vs {reference}, % [{CONFIDENCE:.0%} CI]",
        "degradation",
        f"Δ degradation vs {reference}, pp [{CONFIDENCE:.0%} CI]",
        "verdict",
    ]
    rows = []
    for verdict in summary.verdicts(family):
        is_reference = verdict.group == reference
        rows.append(
            [
                verdict.group,
                str(len(verdict.degradation.values)),
                _spread(verdict.nominal),
                "reference" if is_reference else _interval(verdict.nominal_change),
                _spread(verdict.degradation, percent=True),
                "reference" if is_reference else _interval(verdict.difference),
                "reference" if is_reference else verdict.wording(reference or ""),
            ]
        )
    return header, rows


def _verdict_intro(summary: Summary) -> str:
    reference, metric = summary.sweep.reference, summary.metric
    return (
        f"Per family, each line's degradation against {reference}'s. A run's degradation is the relative "
        f"change of its {metric} (mean over evaluation seeds) against its own unperturbed run, > 0 = worse, "
        "averaged over the family's levels; a line's is the mean ± std over its training runs. "
        f"Δ is the difference from {reference}'s mean degradation in percentage points with a "
        f"{CONFIDENCE:.0%} Welch t-interval over training seeds; it is significant when the interval "
        "excludes 0. A classical controller has no training seeds and counts as a fixed number; a "
        "single learned run gets no interval. "
        f"Nominal vs {reference}: relative change of the unperturbed {metric} (> 0 = worse) with its "
        f"interval; a line that degrades less but is nominally worse (by more than "
        f"{NOMINAL_TOLERANCE:.0%}, or significantly) is flagged."
    )


def _ranking_table(summary: Summary) -> Table:
    header = ["rank", "line", "unperturbed", "mean under stress", "mean degradation", "worst case"]
    rows = []
    for rank, row in enumerate(summary.ranking(), start=1):
        worst = row["worst"]
        rows.append(
            [
                str(rank),
                row["group"],
                _fmt(row["baseline"]),
                _fmt(row["under_stress"]),
                _pct(row["mean_degradation"]),
                f"{_pct(worst[0])} ({worst[1]} {worst[2]})" if worst else "–",
            ]
        )
    return header, rows


def _lipschitz_table(summary: Summary) -> Table:
    header = ["line", "empirical Lipschitz constant (mean ± std)", "n"]
    rows = []
    for group, members in summary.groups.items():
        stat = summary.group_lipschitz(group)
        if stat is not None:
            rows.append([group, f"{_fmt(stat.mean, 4)} ± {_fmt(stat.std, 4)}", _count(summary, group, stat)])
        elif all(is_bundle(c) for c in members):
            rows.append([group, BUNDLE_LIPSCHITZ, "–"])
    return header, rows


def _failed_table(summary: Summary) -> Table:
    rows = [[r["key"], str(r.get("attempts", "")), r.get("error", "")] for r in summary.failed]
    return ["cell", "attempts", "error"], rows


def _lines_table(summary: Summary) -> Table:
    rows = [[group, ", ".join(members)] for group, members in summary.groups.items()]
    return ["line", "controllers"], rows


# --- rendering ---------------------------------------------------------------------------------------


def _html_table(table: Table) -> str:
    header, rows = table
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    # A table wider than the page scrolls inside its own box instead of widening the page.
    return f"<div class='table'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def _md_table(table: Table) -> str:
    header, rows = table
    if not rows:
        return "_none_\n"
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


_STYLE = """body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
.table{max-width:100%;overflow-x:auto;margin:1em 0}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}
td{overflow-wrap:anywhere}th{background:#f3f3f3}img{max-width:100%;height:auto}
pre{background:#f6f6f6;padding:1em;overflow-x:auto;white-space:pre-wrap;overflow-wrap:anywhere}"""


def _provenance(out: Path) -> tuple[str, str]:
    sweep_yaml = (out / SWEEP_FILE).read_text(encoding="utf-8")
    path = out / PROVENANCE_FILE
    history = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    return sweep_yaml, json.dumps(history, indent=2)


def report_title(summary: Summary) -> str:
    """The sweep's own title, else its lines (counted when there are many) and where they ran."""
    if summary.sweep.title:
        return summary.sweep.title
    names = list(summary.groups)
    lines = ", ".join(names) if len(names) <= TITLE_LINES else f"{len(names)} lines"
    return f"Stress report: {lines} on {summary.sweep.network}"


def write_report(out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` (+ its PNGs) for the sweep in ``out_dir``."""
    out = Path(out_dir)
    sweep = load_sweep(out)
    expected = {c.key for c in expand_cells(sweep)}
    summary = summarize(sweep, latest_records(out), expected)
    sweep_yaml, provenance = _provenance(out)
    families = sweep.plan.families

    sections: list[tuple[str, str, list[Figure], list[tuple[str, Table]]]] = []
    if sweep.reference is not None:
        verdicts = [(f"Family: {f.name}", _verdict_table(summary, f)) for f in families]
        sections.append((f"Verdict against {sweep.reference}", _verdict_intro(summary), [], verdicts))
    sections += [
        (
            "Ranking",
            f"Lines by mean {summary.metric} ({direction(summary.metric)}) over all perturbed cells, "
            "best first; degradation is the change of each run's own unperturbed "
            f"{summary.metric}, as a loss (worse) or a gain (better), averaged over a line's runs.",
            [],
            [("", _ranking_table(summary))],
        ),
        (
            f"Degradation of {summary.metric}",
            f"Change against each run's unperturbed run, averaged over a line's runs; "
            f"{direction(summary.metric)}.",
            [],
            [("", _degradation_table(summary))],
        ),
    ]
    for family in families:
        intro = (
            f"Perturbation `{family.perturbation}`, levels {family.levels}, params {family.params or '{}'}. "
            "Table: mean ± std over training runs (a line of several runs; n = runs × evaluation seeds) "
            "or over evaluation seeds (a single controller; n = seeds)."
        )
        table = ("Plotted numbers", _family_table(summary, family))
        sections.append((f"Family: {family.name}", intro, _figures(summary, family), [table]))
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
    sections.append(("Lines", "The controllers behind each line.", [], [("", _lines_table(summary))]))

    title = report_title(summary)
    where, per_cell = domain_of(sweep).setting(sweep)
    setting = f"{where}; evaluation seeds {', '.join(map(str, sweep.plan.seeds))}; {per_cell}."
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
