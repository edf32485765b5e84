"""From cell records to the numbers a report shows: per (controller, family, level) the per-seed values,
their mean and spread, degradation against each controller's own unperturbed run, a ranking, and the
same for the report's lines (groups of controllers, e.g. a recipe's training runs), with verdicts
comparing each group's degradation with a reference group's over training seeds."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from ernie_traffic.controllers.resolve import is_classical
from ernie_traffic.stress.plan import BASELINE, HIGHER_IS_BETTER, NETWORK, Family
from ernie_traffic.stress.sweep import Sweep, controller_groups, domain_of

CONFIDENCE = 0.95
# A recipe more robust than the reference but with a nominal metric this much worse (relative) is
# flagged: robustness bought with a worse controller (the bar for "within 3 % of plain").
NOMINAL_TOLERANCE = 0.03


@dataclass(frozen=True)
class Stat:
    """Values of one metric in one group: per seed of a controller, or per run of a group of runs."""

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


@dataclass(frozen=True)
class Difference:
    """``mean(a) - mean(b)`` with its Welch t-interval; a sample of one value (a classical controller,
    which has no training seeds) counts as a fixed number. ``low``/``high`` are None when neither
    sample has two values."""

    estimate: float
    low: float | None
    high: float | None

    @property
    def significant(self) -> bool | None:
        """Whether the interval excludes 0 (None: no interval)."""
        if self.low is None or self.high is None:
            return None
        return self.low > 0 or self.high < 0


def welch_difference(a: list[float], b: list[float], confidence: float = CONFIDENCE) -> Difference:
    """The difference of the means of two independent samples and its Welch t-interval."""
    estimate = float(np.mean(a) - np.mean(b))
    terms = [(float(np.var(x, ddof=1)) / len(x), len(x)) for x in (a, b) if len(x) > 1]
    if not terms:
        return Difference(estimate, None, None)
    se2 = sum(v for v, _ in terms)
    if se2 == 0:
        return Difference(estimate, estimate, estimate)
    dof = se2**2 / sum(v**2 / (n - 1) for v, n in terms)
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, dof)) * se2**0.5
    return Difference(estimate, estimate - half, estimate + half)


@dataclass(frozen=True)
class Verdict:
    """One group's robustness in one family against the reference group's.

    Degradations are each run's relative change (> 0 = worse) averaged over the family's levels;
    ``nominal`` is the relative change of the unperturbed metric against the reference's (> 0 = worse).
    """

    group: str
    nominal: Stat
    nominal_change: Difference
    degradation: Stat
    difference: Difference  # this group's degradation minus the reference's

    @property
    def worse_nominal(self) -> bool:
        """The unperturbed metric is worse than the reference's beyond the tolerance, or significantly."""
        return self.nominal_change.estimate > NOMINAL_TOLERANCE or (
            bool(self.nominal_change.significant) and self.nominal_change.estimate > 0
        )

    def wording(self, reference: str) -> str:
        if self.difference.significant is None:
            return "no interval: needs two training runs or more"
        if not self.difference.significant:
            return f"no significant difference from {reference}"
        if self.difference.estimate > 0:
            return f"degrades more than {reference}"
        if self.worse_nominal:
            return f"degrades less than {reference}, but its nominal performance is worse"
        return f"degrades less than {reference}"


@dataclass
class Summary:
    """Everything the report draws and tabulates, computed once from the records."""

    sweep: Sweep
    # (controller, family, level) -> metric -> Stat; level is None for the baseline
    stats: dict[tuple[str, str, Any], dict[str, Stat]] = field(default_factory=dict)
    failed: list[dict[str, Any]] = field(default_factory=list)
    pending: int = 0
    lipschitz: dict[str, Stat] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)  # the report's lines, see controller_groups

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

    # --- the report's lines: groups of controllers --------------------------------------------------

    def group_stat(self, group: str, family: str, level: Any, metric: str) -> Stat | None:
        """A line's point: the mean over evaluation seeds of each of the group's runs (the spread is
        then over training seeds), or a lone controller's per-seed values."""
        members = self.groups[group]
        if len(members) == 1:
            return self.stat(members[0], family, level, metric)
        means = [s.mean for c in members if (s := self.stat(c, family, level, metric)) is not None]
        return Stat(tuple(means)) if means else None

    def group_degradation(self, group: str, family: str, level: Any, metric: str) -> Stat | None:
        """Each run's degradation (see :meth:`degradation`)."""
        values = [
            d for c in self.groups[group] if (d := self.degradation(c, family, level, metric)) is not None
        ]
        return Stat(tuple(values)) if values else None

    def group_lipschitz(self, group: str) -> Stat | None:
        members = [self.lipschitz[c] for c in self.groups[group] if c in self.lipschitz]
        if not members:
            return None
        return members[0] if len(self.groups[group]) == 1 else Stat(tuple(s.mean for s in members))

    def series(self, group: str, family: Family, metric: str) -> list[tuple[Any, Stat]]:
        """(severity, stat) points of one line of a family plot; the baseline sits at ``family.nominal``."""
        points: list[tuple[Any, Stat]] = []
        base = self.group_stat(group, BASELINE, None, metric)
        if base is not None and family.perturbation == NETWORK:
            points.append((self.sweep.network, base))
        elif base is not None and family.nominal is not None:
            points.append((family.nominal, base))
        for level in family.levels:
            stat = self.group_stat(group, family.name, level, metric)
            if stat is not None:
                points.append((level, stat))
        if all(isinstance(x, (int, float)) for x, _ in points):
            points.sort(key=lambda p: float(p[0]))
        return points

    def ranking(self) -> list[dict[str, Any]]:
        """Lines by their mean headline metric over every perturbed cell, best first."""
        rows = []
        for group, members in self.groups.items():
            perturbed = [
                s[self.metric].mean
                for (c, fam, _), s in self.stats.items()
                if c in members and fam != BASELINE and self.metric in s
            ]
            drops = [
                (d.mean, fam, lvl)
                for fam, lvl in self._perturbed_levels()
                if (d := self.group_degradation(group, fam, lvl, self.metric)) is not None
            ]
            base = self.group_stat(group, BASELINE, None, self.metric)
            rows.append(
                {
                    "group": group,
                    "baseline": base.mean if base else None,
                    "under_stress": float(np.mean(perturbed)) if perturbed else None,
                    "mean_degradation": float(np.mean([d for d, _, _ in drops])) if drops else None,
                    "worst": max(drops, key=lambda t: t[0]) if drops else None,
                }
            )
        sign = -1.0 if self.metric in HIGHER_IS_BETTER else 1.0
        rows.sort(key=lambda r: (r["under_stress"] is None, sign * (r["under_stress"] or 0.0)))
        return rows

    def _perturbed_levels(self) -> list[tuple[str, Any]]:
        return [(f.name, level) for f in self.sweep.plan.families for level in f.levels]

    def verdicts(self, family: Family) -> list[Verdict]:
        """Every line against the sweep's reference line in ``family`` (none without a reference or
        before the reference has results), the reference first."""
        reference = self.sweep.reference
        if reference is None or reference not in self.groups:
            return []
        reference_runs = self._run_outcomes(reference, family)
        if not reference_runs:
            return []
        ref_nominal = float(np.mean([n for n, _ in reference_runs]))
        sign = -1.0 if self.metric in HIGHER_IS_BETTER else 1.0

        def relative(nominal: list[float]) -> list[float]:  # change against the reference's mean, > 0 worse
            return [sign * (n - ref_nominal) / abs(ref_nominal) if ref_nominal else np.nan for n in nominal]

        verdicts = []
        for group in [reference, *(g for g in self.groups if g != reference)]:
            runs = self._run_outcomes(group, family)
            if not runs:
                continue
            nominal = [n for n, _ in runs]
            verdicts.append(
                Verdict(
                    group=group,
                    nominal=Stat(tuple(nominal)),
                    nominal_change=self._difference(
                        group, relative(nominal), relative([n for n, _ in reference_runs])
                    ),
                    degradation=Stat(tuple(d for _, d in runs)),
                    difference=self._difference(group, [d for _, d in runs], [d for _, d in reference_runs]),
                )
            )
        return verdicts

    def _difference(self, group: str, values: list[float], reference: list[float]) -> Difference:
        """:func:`welch_difference`, except that a lone learned run, whose spread over training seeds
        nobody measured, gets no interval (a classical controller has none: it counts as fixed)."""
        if len(values) == 1 and not all(is_classical(c) for c in self.groups[group]):
            return Difference(float(np.mean(values) - np.mean(reference)), None, None)
        return welch_difference(values, reference)

    def _run_outcomes(self, group: str, family: Family) -> list[tuple[float, float]]:
        """Per run of ``group`` with results: (unperturbed mean, degradation averaged over the levels)."""
        outcomes = []
        for controller in self.groups[group]:
            base = self.baseline(controller, self.metric)
            drops = [
                d
                for level in family.levels
                if (d := self.degradation(controller, family.name, level, self.metric)) is not None
            ]
            if base is not None and drops:
                outcomes.append((base.mean, float(np.mean(drops))))
        return outcomes


def summarize(sweep: Sweep, records: list[dict[str, Any]], expected_keys: set[str]) -> Summary:
    """Group the latest record of each cell; failed cells are listed, never dropped."""
    values: dict[tuple[str, str, Any], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    lipschitz: dict[str, list[float]] = defaultdict(list)
    summary = Summary(sweep, groups=controller_groups(sweep))
    for record in records:
        if record["status"] != "ok":
            summary.failed.append(record)
            continue
        cell_values = values[(record["controller"], record["family"], record["level"])]
        for metric in domain_of(sweep).metrics:
            if metric in record["metrics"]:
                cell_values[metric].append(float(record["metrics"][metric]))
        if record["family"] == BASELINE and "lipschitz" in record["metrics"]:
            lipschitz[record["controller"]].append(float(record["metrics"]["lipschitz"]))
    summary.stats = {
        key: {m: Stat(tuple(v)) for m, v in by_metric.items()} for key, by_metric in values.items()
    }
    summary.lipschitz = {c: Stat(tuple(v)) for c, v in lipschitz.items()}
    summary.pending = len(expected_keys - {r["key"] for r in records})
    return summary
