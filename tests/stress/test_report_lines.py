"""The report's lines and verdicts (synthetic records, no simulation): runs of one recipe make one
line, a verdict compares degradations over training seeds, legends stay off the plots, and the
page fits a browser window (rendered in headless Chromium)."""

from __future__ import annotations

import html
import json
import shutil
import subprocess
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy import stats

from ernie_traffic.stress import Family, StressPlan, Sweep
from ernie_traffic.stress.report import levels_plot, line_styles, percentiles_plot, write_report
from ernie_traffic.stress.summary import summarize, welch_difference
from ernie_traffic.stress.sweep import RESULTS_FILE, SWEEP_FILE, controller_groups, latest_records
from ernie_traffic.utils.config_files import save_or_match_config
from ernie_traffic.utils.io import append_jsonl

CHROMIUM = "/usr/bin/chromium"


def write_records(out, sweep: Sweep, delay) -> None:
    """One record per cell of ``sweep`` whose mean_delay is ``delay(controller, family, level, seed)``."""
    save_or_match_config(sweep, out / SWEEP_FILE, "sweep")
    for controller in sweep.controllers:
        for family, level in [("baseline", None)] + [
            (f.name, x) for f in sweep.plan.families for x in f.levels
        ]:
            for seed in sweep.plan.seeds:
                value = delay(controller, family, level, seed)
                record = {"key": f"{controller}|{family}|{level}|{seed}", "controller": controller,
                          "family": family, "level": level, "seed": seed, "status": "ok",
                          "metrics": {"mean_delay": value, "throughput": 100.0}}  # fmt: skip
                append_jsonl(out / RESULTS_FILE, record)


def section(md: str, heading: str) -> list[list[str]]:
    text = md.split(f"## {heading}")[1].split("\n## ")[0]
    return [
        [c.strip() for c in line.strip("|").split(" | ")]
        for line in text.splitlines()
        if line.startswith("| ")
    ]


def test_runs_of_a_training_family_make_one_line_named_by_the_family(tmp_path):
    runs = [f"{tmp_path}/runs/grid2x2-qcombo-{reg}/seed{s}" for reg in ("none", "ernie") for s in (0, 1)]
    plan = StressPlan(
        seeds=[0, 1], families=[Family(name="speed", perturbation="speed_factor", levels=[0.5])]
    )
    sweep = Sweep(network="grid2x2", controllers=[*runs, "fixed-time", f"{tmp_path}/other/run"], plan=plan)
    assert controller_groups(sweep) == {
        "grid2x2-qcombo-none": runs[:2],
        "grid2x2-qcombo-ernie": runs[2:],
        "fixed-time": ["fixed-time"],
        "run": [f"{tmp_path}/other/run"],
    }

    # a run's mean delay: 10 + its seed (training) + 0.5 per evaluation seed; the speed cells 20 % longer
    def delay(controller, family, level, seed):
        run_seed = int(controller[-1]) if "seed" in controller else 0
        return (10.0 + run_seed + 0.5 * seed) * (1.2 if family == "speed" else 1.0)

    write_records(tmp_path / "out", sweep, delay)
    md = write_report(tmp_path / "out")[1].read_text()
    title = md.splitlines()[0]
    assert title == "# Stress report: grid2x2-qcombo-none, grid2x2-qcombo-ernie, fixed-time, run on grid2x2"
    rows = {row[0]: row for row in section(md, "Family: speed")[1:] if row[1] == "unperturbed"}
    # the line's value is the mean over runs of each run's mean over evaluation seeds (10.25 and 11.25);
    # its spread is over the runs, n = runs × evaluation seeds
    assert rows["grid2x2-qcombo-none"][3] == "10.75 ± 0.50" and rows["grid2x2-qcombo-none"][-1] == "2×2"
    assert rows["fixed-time"][3] == "10.25 ± 0.25" and rows["fixed-time"][-1] == "2"  # over evaluation seeds
    assert section(md, "Degradation of mean_delay")[1] == ["speed", "0.5", *["20.0% worse"] * 4]


def test_verdict_gives_a_welch_interval_over_training_seeds_and_flags_a_worse_nominal(tmp_path):
    """ERNIE degrades significantly less than QCOMBO but is nominally 10 % slower; Gaussian is no
    different; fixed-time (no training seeds) degrades more; a lone learned run gets no interval."""
    degradation = {"QCOMBO": [0.40, 0.44, 0.38, 0.42], "ERNIE": [0.20, 0.24, 0.18, 0.26],
                   "Gaussian": [0.41, 0.37, 0.45, 0.39], "fixed-time": [0.8], "lone": [0.9]}  # fmt: skip
    nominal = {"QCOMBO": 30.0, "ERNIE": 33.0, "Gaussian": 30.3, "fixed-time": 40.0, "lone": 30.0}
    groups = {
        recipe: [f"/runs/{recipe}/seed{s}" for s in range(len(drops))]
        for recipe, drops in degradation.items()
        if recipe not in ("fixed-time", "lone")
    }
    controllers = [c for members in groups.values() for c in members] + ["fixed-time", "/elsewhere/lone"]
    plan = StressPlan(
        seeds=[0], families=[Family(name="demand", perturbation="demand_scale", levels=[0.3, 0.6])]
    )
    sweep = Sweep(network="grid2x2", controllers=controllers, plan=plan, groups=groups, reference="QCOMBO",
                  title="Study paper-check")  # fmt: skip

    def delay(controller, family, level, seed):
        recipe = controller.split("/")[2] if controller.startswith("/runs") else Path(controller).name
        run = int(controller[-1]) if controller.startswith("/runs") else 0
        # the two levels' degradations average to the run's (d - 0.1 and d + 0.1)
        drop = degradation[recipe][run] + {None: 0, 0.3: -0.1, 0.6: 0.1}[level]
        return nominal[recipe] * (1 + drop) if family != "baseline" else nominal[recipe]

    write_records(tmp_path / "out", sweep, delay)
    md = write_report(tmp_path / "out")[1].read_text()
    assert md.startswith("# Study paper-check\n")
    header, *rows = section(md, "Verdict against QCOMBO")
    verdict = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert list(verdict) == ["QCOMBO", "ERNIE", "Gaussian", "fixed-time", "lone"]
    delta = "Δ degradation vs QCOMBO, pp [95% CI]"
    test = stats.ttest_ind(degradation["ERNIE"], degradation["QCOMBO"], equal_var=False)
    low, high = test.confidence_interval(0.95)
    shown = f"{100 * (np.mean(degradation['ERNIE']) - np.mean(degradation['QCOMBO'])):+.1f}"
    assert verdict["ERNIE"][delta] == f"{shown} [{100 * low:+.1f}, {100 * high:+.1f}]"
    assert verdict["ERNIE"]["nominal vs QCOMBO, % [95% CI]"].startswith("+10.0")
    assert verdict["ERNIE"]["verdict"] == "degrades less than QCOMBO, but its nominal performance is worse"
    assert verdict["Gaussian"]["verdict"] == "no significant difference from QCOMBO"
    assert verdict["fixed-time"]["verdict"] == "degrades more than QCOMBO"
    assert verdict["fixed-time"]["runs"] == "1" and verdict["ERNIE"]["degradation"] == "+22.0% ± 3.2"
    assert verdict["lone"][delta] == "+49.0" and verdict["lone"]["verdict"].startswith("no interval")


def test_welch_interval_matches_scipy_and_a_fixed_value_uses_one_sample_spread():
    a, b = [1.0, 2.0, 4.0], [3.0, 3.5, 6.0, 7.0]
    diff = welch_difference(a, b)
    assert (diff.low, diff.high) == pytest.approx(
        stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    )
    fixed = welch_difference([5.0], b)  # a classical controller: the reference's spread only
    low, high = stats.ttest_1samp(b, 5.0).confidence_interval(0.95)  # of mean(b)
    assert (fixed.low, fixed.high) == pytest.approx((5.0 - high, 5.0 - low))
    assert welch_difference([1.0], [2.0]).significant is None


def many_lines_sweep(tmp_path) -> Sweep:
    """A study-sized report: 4 recipes × 5 seeds beside 8 other controllers (12 lines), 5 families."""
    groups = {f"recipe-{i}": [f"/runs/recipe-{i}/seed{s}" for s in range(5)] for i in range(4)}
    classical = ["fixed-time", "actuated", "max-pressure", "webster"]
    others = [f"/elsewhere/a-rather-long-run-name-{i}" for i in range(4)]
    families = [
        Family(
            name=f"family_{k}",
            perturbation="demand_scale",
            scale="value",
            levels=[1.1, 1.2, 1.3, 1.4],
            nominal=1,
        )
        for k in range(5)
    ]
    controllers = [c for members in groups.values() for c in members] + classical + others
    plan = StressPlan(seeds=[0, 1, 2], families=families)
    return Sweep(network="grid2x2", controllers=controllers, plan=plan, groups=groups, reference="recipe-0")


def test_lines_have_distinct_colours_and_legends_stay_off_the_plots(tmp_path):
    sweep = many_lines_sweep(tmp_path)
    rng = np.random.default_rng(0)
    write_records(tmp_path, sweep, lambda c, f, level, s: 30 + 10 * rng.random())
    summary = summarize(sweep, latest_records(tmp_path), set())
    colours = [style["color"] for style in line_styles(summary).values()]
    assert len(colours) == 12 and len(set(colours)) == 12
    for figure in (
        levels_plot(summary, sweep.plan.families[0]),
        percentiles_plot(summary, sweep.plan.families[0]),
    ):
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()
        (legend,) = figure.legends
        assert len(legend.get_texts()) == 12
        box = legend.get_window_extent(renderer)
        for ax in figure.axes:
            if ax.axison:
                assert not box.overlaps(ax.get_tightbbox(renderer)), "legend over a plot"
        plt.close(figure)


@pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs Debian's chromium (apt-get install chromium)")
def test_report_fits_a_browser_window(tmp_path):
    """The page rendered by headless Chromium at 1280 px: nothing wider than the window, and every
    table (the verdicts and the degradation table of 20 levels × 12 lines included) fits without
    scrolling its box."""
    sweep = many_lines_sweep(tmp_path)
    rng = np.random.default_rng(0)
    write_records(tmp_path / "out", sweep, lambda c, f, level, s: 30 + 10 * rng.random())
    html_path, _ = write_report(tmp_path / "out")
    check = """<script>window.addEventListener('load', () => {
      const boxes = [...document.querySelectorAll('div.table')].map(d => ({
        heading: d.previousElementSibling ? d.previousElementSibling.textContent : '',
        overflow: d.scrollWidth - d.clientWidth}));
      document.body.setAttribute('data-check', JSON.stringify({
        page: document.documentElement.scrollWidth, window: window.innerWidth, boxes}));
    });</script></body>"""
    page = tmp_path / "checked.html"
    page.write_text(html_path.read_text().replace("</body>", check))
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    found = dom.split('data-check="')[1].split('"')[0]
    measured = json.loads(html.unescape(found))
    assert measured["window"] == 1280
    assert measured["page"] <= measured["window"]
    assert len(measured["boxes"]) >= 5 + 1 + 1  # verdict per family, ranking, degradation, ...
    overflowing = [b["heading"] for b in measured["boxes"] if b["overflow"] > 0]
    assert overflowing == []  # every table, the verdicts and the degradation table included, fits its box
