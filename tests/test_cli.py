import subprocess
import sys

import pytest


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ernie_traffic", *args], capture_output=True, text=True, check=False
    )


def test_help_lists_command_groups():
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    assert "networks" in result.stdout


def test_networks_list_shows_bundled_and_resco():
    result = run_cli("networks", "list")
    assert result.returncode == 0, result.stderr
    for name in ("grid2x2", "cologne8", "ingolstadt7"):
        assert name in result.stdout


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["evaluate", "fixed-time", "--episodes", "-1"], "--episodes"),
        (["evaluate", "fixed-time", "--episodes", "two"], "--episodes"),
        (["stress-test", "-c", "fixed-time", "--out", "sweep", "--workers", "0"], "--workers"),
        (["export", "run", "--out", "bundle", "--opset", "5"], "--opset"),
        (["evaluate"], "controllers"),
        (["networks", "list", "--colour"], "--colour"),
    ],
)
def test_a_bad_command_line_is_one_error_line(tmp_path, args, names):
    command = [sys.executable, "-m", "ernie_traffic", *args]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and names in line, line
    assert not (tmp_path / "sweep").exists()


def test_a_command_group_without_a_command_shows_its_help():
    result = run_cli("networks")
    assert result.returncode == 2
    assert "Usage: python -m ernie_traffic networks" in result.stdout
