"""Helpers of the stress tests (a module name of its own: every test folder has a conftest)."""

from __future__ import annotations

from ernie_traffic.stress import Family, StressPlan, Sweep


def tiny_sweep(**changes) -> Sweep:
    """Fixed-time and max-pressure, baseline + speed reduction at two severities, two seeds, 600 s."""
    plan = StressPlan(
        seeds=[0, 1],
        horizon=600,
        families=[Family(name="speed", perturbation="speed_factor", levels=[0.5, 1.0], nominal=0)],
    )
    fields = {"network": "grid2x2", "controllers": ["fixed-time", "max-pressure"], "plan": plan, **changes}
    return Sweep(**fields)
