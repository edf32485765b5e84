"""Stress tests: sweep controllers over perturbation families and severities, then report
(:func:`ernie_traffic.stress.report.write_report`, kept out of this namespace so that worker
processes, which import :mod:`ernie_traffic.stress.cells`, do not load matplotlib)."""

from ernie_traffic.stress.plan import DEFAULT_PLAN, Family, StressPlan, load_plan
from ernie_traffic.stress.sweep import Sweep, expand_cells, run_sweep, validate_sweep

__all__ = [
    "DEFAULT_PLAN",
    "Family",
    "StressPlan",
    "Sweep",
    "expand_cells",
    "load_plan",
    "run_sweep",
    "validate_sweep",
]
