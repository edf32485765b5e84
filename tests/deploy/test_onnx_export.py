"""ONNX export of torch policies: checker, dynamic batch, named tensors, parity with torch."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from ernie_traffic.export.onnx_model import (
    INPUT_NAME,
    MAX_ABS_DIFF,
    OUTPUT_NAME,
    check_parity,
    export_onnx,
    simplify_onnx,
)


def policy_mlp(obs_size: int = 33, n_actions: int = 4) -> torch.nn.Module:
    torch.manual_seed(1)
    return torch.nn.Sequential(
        torch.nn.Linear(obs_size, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, n_actions),
    )


def test_export_has_named_io_and_dynamic_batch(tmp_path):
    path = export_onnx(policy_mlp(), 33, tmp_path / "p.onnx")
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == [INPUT_NAME]
    assert [o.name for o in graph.output] == [OUTPUT_NAME]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 7, 300):
        (out,) = session.run(None, {INPUT_NAME: np.zeros((batch, 33), np.float32)})
        assert out.shape == (batch, 4)


@pytest.mark.parametrize("simplify", [False, True])
def test_parity_with_torch_on_recorded_and_random_observations(tmp_path, simplify):
    module = policy_mlp()
    path = export_onnx(module, 33, tmp_path / "p.onnx")
    if simplify:
        simplify_onnx(path)
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    recorded = np.random.default_rng(0).gamma(2.0, 3.0, size=(2000, 33)).astype(np.float32)
    report = check_parity(module, path, recorded, n_valid_actions=3, n_random=2000)
    print(report.line())
    assert report.recorded == 2000 and report.random == 2000
    assert report.max_abs_diff <= MAX_ABS_DIFF
    assert report.greedy_mismatches == 0
    assert report.ok


def test_parity_detects_a_different_model(tmp_path):
    """The check can fail: an ONNX file of other weights disagrees with the module."""
    path = export_onnx(policy_mlp(), 33, tmp_path / "p.onnx")
    other = policy_mlp()
    with torch.no_grad():
        other[0].bias.add_(0.1)
    recorded = np.random.default_rng(0).normal(size=(500, 33)).astype(np.float32)
    report = check_parity(other, path, recorded, n_valid_actions=4, n_random=500)
    assert report.max_abs_diff > MAX_ABS_DIFF
    assert not report.ok
    assert "FAILED" in report.line()
