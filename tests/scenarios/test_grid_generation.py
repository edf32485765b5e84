from pathlib import Path

import pytest

from ernie_traffic.errors import UserInputError
from ernie_traffic.scenarios import resolve_scenario
from ernie_traffic.scenarios.grid import generate_grid
from ernie_traffic.scenarios.network_info import read_network

REPO = Path(__file__).resolve().parents[2]


def _content(path: Path) -> str:
    return path.read_text()


def test_same_seed_gives_identical_files_and_another_seed_other_demand(tmp_path):
    first = generate_grid(rows=2, cols=3, duration=600, seed=7, out_dir=tmp_path / "a", name="g")
    again = generate_grid(rows=2, cols=3, duration=600, seed=7, out_dir=tmp_path / "b", name="g")
    other = generate_grid(rows=2, cols=3, duration=600, seed=8, out_dir=tmp_path / "c", name="g")
    assert _content(first.net_file) == _content(again.net_file)
    assert _content(first.route_files[0]) == _content(again.route_files[0])
    assert _content(first.route_files[0]) != _content(other.route_files[0])


@pytest.mark.parametrize(
    ("rows", "cols", "lanes", "left_turn_lanes"), [(1, 1, 1, 0), (2, 3, 2, 0), (3, 2, 2, 1)]
)
def test_grid_has_the_requested_intersections_and_lanes(tmp_path, rows, cols, lanes, left_turn_lanes):
    scenario = generate_grid(
        rows=rows, cols=cols, lanes=lanes, left_turn_lanes=left_turn_lanes, duration=300, out_dir=tmp_path
    )
    info = read_network(scenario.net_file)
    assert len(info.signals) == rows * cols
    for signal in info.signals:
        # four approaches, each with its through lanes plus its dedicated left-turn lanes
        assert len(signal.incoming_lanes) == 4 * (lanes + left_turn_lanes)
        assert len(signal.green_phases) >= 2


def test_demand_rate_follows_vehicles_per_hour_per_entry(tmp_path):
    scenario = generate_grid(rows=2, cols=2, vehicles_per_hour_per_entry=150, duration=1200, out_dir=tmp_path)
    vehicles = _content(scenario.route_files[0]).count("<vehicle ")
    assert vehicles == pytest.approx(150 * 8 * 1200 / 3600, rel=0.02)  # 8 entries on a 2×2 grid


def test_bundled_grid2x2_is_what_the_generator_writes(tmp_path):
    scenario = generate_grid(out_dir=tmp_path / "grid2x2")
    bundled = resolve_scenario("grid2x2")
    assert _content(scenario.net_file) == _content(bundled.net_file)
    assert _content(scenario.route_files[0]) == _content(bundled.route_files[0])
    assert (
        "ernie-traffic networks grid --rows 2 --cols 2" in (REPO / "networks/grid2x2/README.md").read_text()
    )


def test_bundled_grid2x2_runs_in_sumo_until_every_vehicle_has_arrived(sumo_statistics):
    scenario = resolve_scenario("grid2x2")
    vehicles = sumo_statistics(scenario.net_file, scenario.route_files).find("vehicles")
    assert int(vehicles.get("loaded")) == 2400
    assert int(vehicles.get("inserted")) == 2400
    assert int(vehicles.get("running")) == 0 and int(vehicles.get("waiting")) == 0


def test_invalid_grid_parameters_name_each_field(tmp_path):
    with pytest.raises(UserInputError) as raised:
        generate_grid(rows=0, lanes=9, out_dir=tmp_path)
    lines = str(raised.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("grid rows:") and lines[1].startswith("grid lanes:")
