"""Fixtures for the scenario tests: the real CLI in a fresh process, and plain ``sumo``."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from ernie_traffic.utils.sumo_tools import sumo_binary, sumo_env

REPO = Path(__file__).resolve().parents[2]

CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli() -> CliRunner:
    """``cli(*args)`` runs ``python -m ernie_traffic ARGS`` from the repository root."""

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ernie_traffic", *map(str, args)],
            capture_output=True,
            text=True,
            check=False,
            cwd=REPO,
        )

    return run


@pytest.fixture
def sumo_statistics(tmp_path: Path) -> Callable[[Path, tuple[Path, ...]], ET.Element]:
    """``sumo_statistics(net, routes)`` runs plain ``sumo`` until every vehicle has left and
    returns its ``--statistic-output`` root."""

    def run(net_file: Path, route_files: tuple[Path, ...]) -> ET.Element:
        stats = tmp_path / "statistics.xml"
        subprocess.run(
            [
                str(sumo_binary("sumo")),
                "--net-file", str(net_file),
                "--route-files", ",".join(map(str, route_files)),
                "--no-step-log", "--no-warnings",
                "--statistic-output", str(stats),
            ],
            check=True, capture_output=True, env=sumo_env(),
        )  # fmt: skip
        return ET.parse(stats).getroot()

    return run
