"""From cell records to the numbers a report shows: per (controller, family, level) the per-seed values,
their mean and spread, degradation against each controller's own unperturbed run, and a ranking."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ernie_traffic.stress.cells import BASELINE
from ernie_traffic.stress.plan import HIGHER_IS_BETTER, NETWORK, Family
from ernie_traffic.stress.sweep import Sweep


@dataclass(frozen=True)
class Stat:
    """Per-seed values of one metric in one (controller, family, level) group."""

    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def std(self) -> float:
        return float(np.std(self.values))

    @property
    def low(self) -> float:
        return float(np.min(self.values))

    @property
    def high(self) -> float:
        return float(np.max(self.values))


@dataclass
class Summary:
    """Everything the report draws and tabulates, computed once from the records."""

    sweep: Sweep
    # (controller, family, level) -> metric -> Stat; level is None for the baseline
    stats: dict[tuple[str, str, Any], dict[str, Stat]] = field(default_factory=dict)
    failed: list[dict[str, Any]] = field(default_factory=list)
    pending: int = 0
    lipschitz: dict[str, Stat] = field(default_factory=dict)

    @property
    def metric(self) -> str:
        return self.sweep.plan.metric

    def stat(self, controller: str, family: str, level: Any, metric: str) -> Stat | None:
        return self.stats.get((controller, family, level), {}).get(metric)

    def baseline(self, controller: str, metric: str) -> Stat | None:
        return self.stat(controller, BASELINE, None, metric)

    def degradation(self, controller: str, family: str, level: Any, metric: str) -> float | None:
        """Relative change against the controller's unperturbed mean, signed so that > 0 is worse
        whichever way the metric points (a lower return and a longer delay are both losses)."""
        base, now = self.baseline(controller, metric), self.stat(controller, family, level, metric)
        if base is None or now is None or base.mean == 0:
            return None
        change = (now.mean - base.mean) / abs(base.mean)
        return -change if metric in HIGHER_IS_BETTER else change

    def series(self, controller: str, family: Family, metric: str) -> list[tuple[Any, Stat]]:
        """(severity, stat) points of one line of a family plot; the baseline sits at ``family.nominal``."""
        points: list[tuple[Any, Stat]] = []
        base = self.baseline(controller, metric)
        if base is not None and family.perturbation == NETWORK:
            points.append((self.sweep.network, base))
        elif base is not None and family.nominal is not None:
            points.append((family.nominal, base))
        for level in family.levels:
            stat = self.stat(controller, family.name, level, metric)
            if stat is not None:
                points.append((level, stat))
        if all(isinstance(x, (int, float)) for x, _ in points):
            points.sort(key=lambda p: float(p[0]))
        return points

    def ranking(self) -> list[dict[str, Any]]:
        """Controllers by their mean headline metric over every perturbed cell, best first."""
        rows = []
        for controller in self.sweep.controllers:
            perturbed = [
                s[self.metric].mean
                for (c, fam, _), s in self.stats.items()
                if c == controller and fam != BASELINE and self.metric in s
            ]
            drops = [
                (d, fam, lvl)
                for (c, fam, lvl) in self.stats
                if c == controller and fam != BASELINE
                if (d := self.degradation(c, fam, lvl, self.metric)) is not None
            ]
            base = self.baseline(controller, self.metric)
            rows.append(
                {
                    "controller": controller,
                    "baseline": base.mean if base else None,
                    "under_stress": float(np.mean(perturbed)) if perturbed else None,
                    "mean_degradation": float(np.mean([d for d, _, _ in drops])) if drops else None,
                    "worst": max(drops, key=lambda t: t[0]) if drops else None,
                }
            )
        sign = -1.0 if self.metric in HIGHER_IS_BETTER else 1.0
        rows.sort(key=lambda r: (r["under_stress"] is None, sign * (r["under_stress"] or 0.0)))
        return rows


def summarize(sweep: Sweep, records: list[dict[str, Any]], expected_keys: set[str]) -> Summary:
    """Group the latest record of each cell; failed cells are listed, never dropped."""
    values: dict[tuple[str, str, Any], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    lipschitz: dict[str, list[float]] = defaultdict(list)
    summary = Summary(sweep)
    for record in records:
        if record["status"] != "ok":
            summary.failed.append(record)
            continue
        group = values[(record["controller"], record["family"], record["level"])]
        for metric in sweep.metrics:
            if metric in record["metrics"]:
                group[metric].append(float(record["metrics"][metric]))
        if record["family"] == BASELINE and "lipschitz" in record["metrics"]:
            lipschitz[record["controller"]].append(float(record["metrics"]["lipschitz"]))
    summary.stats = {
        key: {m: Stat(tuple(v)) for m, v in by_metric.items()} for key, by_metric in values.items()
    }
    summary.lipschitz = {c: Stat(tuple(v)) for c, v in lipschitz.items()}
    summary.pending = len(expected_keys - {r["key"] for r in records})
    return summary
