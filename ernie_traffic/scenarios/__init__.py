"""Traffic scenarios: a SUMO network plus its demand, found by name or path."""

from ernie_traffic.scenarios.registry import Scenario, list_scenarios, resolve_scenario

__all__ = ["Scenario", "list_scenarios", "resolve_scenario"]
