"""``ernie-traffic networks`` through the real command line."""

import re
import shutil
from pathlib import Path

import pytest

from ernie_traffic.scenarios import resolve_scenario
from ernie_traffic.scenarios.grid import generate_grid
from ernie_traffic.utils.sumo_tools import run_sumo_program, sumo_binary

RESCO_SIGNALS = {
    "grid4x4": 16,
    "arterial4x4": 16,
    "cologne1": 1,
    "cologne3": 3,
    "cologne8": 8,
    "ingolstadt1": 1,
    "ingolstadt7": 7,
    "ingolstadt21": 21,
}


def test_list_shows_every_resco_and_bundled_network_with_its_intersections(cli):
    result = cli("networks", "list")
    assert result.returncode == 0, result.stderr
    table = [re.findall(r"[^│┃\s]+", line) for line in result.stdout.splitlines()]
    rows = {
        cells[0]: cells for cells in table if cells and cells[0] in {*RESCO_SIGNALS, "grid2x2", "grid3x3"}
    }
    assert {name: int(rows[name][2]) for name in RESCO_SIGNALS} == RESCO_SIGNALS
    assert rows["grid2x2"][1:4] == ["bundled", "4", "16"]  # 4 intersections of 4 phases each
    assert rows["grid3x3"][2] == "9"


def test_grid_writes_where_it_says(cli, tmp_path):
    result = cli(
        "networks", "grid", "--rows", "1", "--cols", "2", "--duration", "120", "--out", tmp_path / "g"
    )
    assert result.returncode == 0, result.stderr
    assert f"wrote {tmp_path / 'g' / 'g.net.xml'}" in result.stdout
    assert (tmp_path / "g" / "g.rou.xml").is_file() and (tmp_path / "g" / "README.md").is_file()


def test_check_prints_the_intersections_to_control(cli):
    result = cli("networks", "check", "cologne3")
    assert result.returncode == 0, result.stderr
    assert "3 signalised intersections" in result.stdout
    assert "360082" in result.stdout


def test_check_accepts_a_user_network_with_routes_repeated_or_comma_separated(cli, tmp_path):
    scenario = generate_grid(rows=1, cols=2, duration=120, out_dir=tmp_path / "mine")
    morning, evening = tmp_path / "morning.rou.xml", tmp_path / "evening.rou.xml"
    shutil.copy(scenario.route_files[0], morning)
    shutil.copy(scenario.route_files[0], evening)
    repeated = cli("networks", "check", scenario.net_file, "--routes", morning, "--routes", evening)
    commas = cli("networks", "check", scenario.net_file, "--routes", f"{morning},{evening}")
    for result in (repeated, commas):
        assert result.returncode == 0, result.stderr
        assert "2 signalised intersections" in result.stdout
        assert "morning.rou.xml" in result.stdout and "evening.rou.xml" in result.stdout


@pytest.fixture
def bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str | Path], str]]:
    """Each bad input: the CLI arguments and the problem its one error line must state."""
    grid = resolve_scenario("grid2x2")
    routes = grid.route_files[0]
    malformed = tmp_path / "malformed.net.xml"
    malformed.write_text('<net version="1.20">\n  <edge id="a">\n</net>\n')
    not_a_network = tmp_path / "routes.net.xml"
    shutil.copy(routes, not_a_network)
    no_lights = tmp_path / "nolights.net.xml"
    run_sumo_program([sumo_binary("netgenerate"), "--grid", "--output-file", no_lights], "test network")
    foreign_routes = tmp_path / "foreign.rou.xml"
    foreign_routes.write_text(routes.read_text().replace('edges="', 'edges="nowhere '))
    return {
        "missing network": ([tmp_path / "absent.net.xml", "--routes", routes], "network file not found"),
        "missing routes": ([grid.net_file, "--routes", tmp_path / "absent.rou.xml"], "route file not found"),
        "malformed XML": ([malformed, "--routes", routes], "malformed XML at line 3"),
        "not a network": ([not_a_network, "--routes", routes], "not a SUMO network"),
        "no traffic lights": ([no_lights, "--routes", routes], "no traffic lights"),
        "unknown edges": ([grid.net_file, "--routes", foreign_routes], "uses edge 'nowhere'"),
        "unknown name": (["cologne9"], "unknown network 'cologne9'"),
    }


@pytest.mark.parametrize(
    "case",
    ["missing network", "missing routes", "malformed XML", "not a network", "no traffic lights",
     "unknown edges", "unknown name"],
)  # fmt: skip
def test_bad_input_gives_one_error_line_and_exit_code_2(cli, bad_inputs, case):
    args, problem = bad_inputs[case]
    result = cli("networks", "check", *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and problem in lines[0]
    named = (
        args[0]
        if case in ("missing network", "malformed XML", "not a network", "no traffic lights")
        else args[-1]
    )
    assert str(named) in lines[0]


def test_debug_shows_the_traceback(cli):
    result = cli("--debug", "networks", "check", "cologne9")
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "UserInputError" in result.stderr
