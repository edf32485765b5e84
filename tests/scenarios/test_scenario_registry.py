import pytest

from ernie_traffic.errors import UserInputError
from ernie_traffic.scenarios import generate_grid, list_scenarios, resolve_scenario


def test_names_resolve_to_bundled_and_resco_scenarios_with_their_time_windows():
    by_name = {s.name: s for s in list_scenarios()}
    assert by_name["grid2x2"].source == "bundled" and (by_name["grid2x2"].begin, by_name["grid2x2"].end) == (
        0,
        3600,
    )
    assert by_name["cologne8"].source == "resco" and by_name["cologne8"].begin == 25200
    assert by_name["ingolstadt21"].begin == 57600
    assert resolve_scenario("grid3x3").net_file.name == "grid3x3.net.xml"


def test_a_user_path_finds_its_routes_and_time_window_beside_it(tmp_path):
    generated = generate_grid(rows=1, cols=1, duration=900, out_dir=tmp_path / "one")
    scenario = resolve_scenario(generated.net_file)
    assert scenario.source == "user"
    assert scenario.route_files == generated.route_files
    assert (scenario.begin, scenario.end) == (0, 900)


def test_a_user_path_with_routes_on_other_edges_is_refused(tmp_path):
    one = generate_grid(rows=1, cols=1, duration=300, out_dir=tmp_path / "one")
    other = generate_grid(rows=1, cols=2, duration=300, out_dir=tmp_path / "other")
    with pytest.raises(UserInputError, match=r"which is not in one\.net\.xml"):
        resolve_scenario(one.net_file, [other.route_files[0]])
    with pytest.raises(UserInputError, match=r"absent\.rou\.xml: route file not found"):
        resolve_scenario("grid2x2", [tmp_path / "absent.rou.xml"])
