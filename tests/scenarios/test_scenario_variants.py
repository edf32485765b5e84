"""Stress-test variants change what they should, and only that."""

from pathlib import Path

import pytest

from ernie_traffic.errors import UserInputError
from ernie_traffic.scenarios import resolve_scenario
from ernie_traffic.scenarios.network_info import read_network
from ernie_traffic.scenarios.variants import (
    demand_rate_variant,
    lane_closure_variant,
    read_demand,
    turn_shares,
    turning_mix_variant,
)


@pytest.fixture(scope="module")
def grid2x2():
    return resolve_scenario("grid2x2")


def test_more_weight_on_left_turns_raises_their_share_and_keeps_the_departures(grid2x2, tmp_path):
    variant = turning_mix_variant(grid2x2, tmp_path / "lefts", {"left": 3.0}, seed=0)
    before, after = turn_shares(grid2x2), turn_shares(variant)
    assert after["left"] > before["left"] + 0.1
    assert [v.depart for v in read_demand(variant).vehicles] == pytest.approx(
        [v.depart for v in read_demand(grid2x2).vehicles], abs=0.01
    )


def test_less_weight_on_left_turns_lowers_their_share(grid2x2, tmp_path):
    variant = turning_mix_variant(grid2x2, tmp_path / "fewer", {"left": 0.3}, seed=0)
    assert turn_shares(variant)["left"] < turn_shares(grid2x2)["left"] - 0.1


def test_variants_are_deterministic_for_a_seed(grid2x2, tmp_path):
    def routes(path: Path) -> str:
        return path.read_text()

    a = turning_mix_variant(grid2x2, tmp_path / "a", {"left": 2.0}, seed=3, name="v")
    b = turning_mix_variant(grid2x2, tmp_path / "b", {"left": 2.0}, seed=3, name="v")
    c = turning_mix_variant(grid2x2, tmp_path / "c", {"left": 2.0}, seed=4, name="v")
    assert routes(a.route_files[0]) == routes(b.route_files[0]) != routes(c.route_files[0])
    d = demand_rate_variant(grid2x2, tmp_path / "d", 0.5, seed=3, name="v")
    e = demand_rate_variant(grid2x2, tmp_path / "e", 0.5, seed=3, name="v")
    assert routes(d.route_files[0]) == routes(e.route_files[0])


@pytest.mark.parametrize("factor", [0.5, 1.5])
def test_demand_rate_scales_the_vehicle_count_within_the_same_hour(grid2x2, tmp_path, factor):
    variant = demand_rate_variant(grid2x2, tmp_path / "rate", factor, seed=0)
    vehicles = read_demand(variant).vehicles
    assert len(vehicles) == round(factor * 2400)
    assert grid2x2.begin <= min(v.depart for v in vehicles) and max(v.depart for v in vehicles) <= grid2x2.end
    # the second half hour keeps its share of the departures
    late = sum(v.depart >= 1800 for v in vehicles) / len(vehicles)
    assert late == pytest.approx(0.5, abs=0.05)


def test_lane_closure_removes_one_lane_per_closed_approach_and_keeps_the_phases(grid2x2, tmp_path):
    variant = lane_closure_variant(grid2x2, tmp_path / "closed", count=2, seed=0)
    before, after = read_network(grid2x2.net_file), read_network(variant.net_file)
    assert after.incoming_lanes == before.incoming_lanes - 2
    assert [len(s.phases) for s in after.signals] == [len(s.phases) for s in before.signals]
    assert sum(s.links for s in after.signals) < sum(s.links for s in before.signals)
    assert [len(s.green_phases) for s in after.signals] == [len(s.green_phases) for s in before.signals]


def test_lane_closure_of_a_named_edge(grid2x2, tmp_path):
    variant = lane_closure_variant(grid2x2, tmp_path / "closed", edges=["left0A0"])
    lanes = {s.id: len(s.incoming_lanes) for s in read_network(variant.net_file).signals}
    assert lanes == {"A0": 7, "A1": 8, "B0": 8, "B1": 8}
    with pytest.raises(UserInputError, match="'nowhere' is not an edge"):
        lane_closure_variant(grid2x2, tmp_path / "bad", edges=["nowhere"])


def test_variants_run_in_sumo_to_completion(grid2x2, tmp_path, sumo_statistics):
    closed = lane_closure_variant(grid2x2, tmp_path / "closed", count=2, seed=1)
    lefts = turning_mix_variant(closed, tmp_path / "lefts", {"left": 2.0}, seed=1)
    vehicles = sumo_statistics(lefts.net_file, lefts.route_files).find("vehicles")
    assert int(vehicles.get("inserted")) == 2400 and int(vehicles.get("running")) == 0


def test_a_resco_city_network_with_trips_gets_routed_and_reweighted(tmp_path):
    cologne8 = resolve_scenario("cologne8")
    variant = turning_mix_variant(cologne8, tmp_path / "c8", {"left": 3.0}, seed=0)
    assert (variant.begin, variant.end) == (25200, 28800)
    assert len(read_demand(variant).vehicles) == len(read_demand(cologne8).vehicles)
    assert turn_shares(variant)["left"] > turn_shares(cologne8)["left"] + 0.1
