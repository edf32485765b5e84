"""The runtime package stands alone: no torch, no SUMO, no ernie_traffic; its CLI verifies bundles."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ernie_deploy

DEPLOY_DIR = Path(ernie_deploy.__file__).resolve().parents[1]


def run_alone(*args: str) -> subprocess.CompletedProcess[str]:
    """Run Python with only the ``deploy/`` folder importable (as after ``pip install ./deploy``)."""
    env = {**os.environ, "PYTHONPATH": str(DEPLOY_DIR)}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, check=False, env=env, cwd=DEPLOY_DIR
    )


def test_runtime_runs_a_bundle_without_torch_or_the_toolkit(make_bundle):
    root = make_bundle().root
    script = (
        "import sys\n"
        "from ernie_deploy.__main__ import main\n"
        f"main(['check', {str(root)!r}, '--decisions', '20'])\n"
        "leaked = [m for m in ('torch', 'ernie_traffic', 'libsumo', 'traci') if m in sys.modules]\n"
        "assert not leaked, leaked\n"
    )
    result = run_alone("-c", script)
    assert result.returncode == 0, result.stderr
    assert "1 files verified" in result.stdout
    assert "20 decisions on idle readings" in result.stdout and "fallbacks 0" in result.stdout


def test_check_refuses_a_tampered_bundle_with_one_error_line(make_bundle):
    root = make_bundle().root
    (root / "policy.onnx").write_bytes((root / "policy.onnx").read_bytes() + b"\0")
    result = run_alone("-m", "ernie_deploy", "check", str(root))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "SHA-256" in lines[0]
