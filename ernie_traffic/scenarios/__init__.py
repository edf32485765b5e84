"""Traffic scenarios: a SUMO network plus its demand, found by name or path, generated, checked
and varied for stress tests."""

from ernie_traffic.scenarios.checks import check_scenario
from ernie_traffic.scenarios.grid import GridSpec, generate_grid
from ernie_traffic.scenarios.network_info import NetworkInfo, SignalInfo, is_green_phase, read_network
from ernie_traffic.scenarios.registry import Scenario, list_scenarios, resolve_scenario
from ernie_traffic.scenarios.variants import (
    demand_rate_variant,
    lane_closure_variant,
    read_demand,
    turn_shares,
    turning_mix_variant,
)

__all__ = [
    "GridSpec",
    "NetworkInfo",
    "Scenario",
    "SignalInfo",
    "check_scenario",
    "demand_rate_variant",
    "generate_grid",
    "is_green_phase",
    "lane_closure_variant",
    "list_scenarios",
    "read_demand",
    "read_network",
    "resolve_scenario",
    "turn_shares",
    "turning_mix_variant",
]
