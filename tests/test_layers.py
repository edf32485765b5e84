"""The layers of the toolkit (pyproject.toml's import-linter contracts) hold: no package imports one
above it, the core knows nothing of traffic, the environments nothing of learning, and the
controller runtime imports neither torch nor the toolkit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_import_runs_down_the_layers():
    # The checkout's own packages, wherever the venv installed them from.
    path = os.pathsep.join([str(ROOT), str(ROOT / "deploy"), os.environ.get("PYTHONPATH", "")])
    linter = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(linter), "--no-cache"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": path}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout, result.stdout
