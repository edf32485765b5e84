import subprocess
import sys


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
