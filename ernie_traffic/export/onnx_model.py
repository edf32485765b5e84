"""Export of a torch policy (observation vector -> per-green-phase scores) to ONNX, and the
parity check that proves the ONNX file computes what the torch module computes."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from ernie_traffic.errors import UserInputError

INPUT_NAME = "observation"
OUTPUT_NAME = "scores"
DEFAULT_OPSET = 17
# Parity thresholds the issue sets: scores within 1e-5 and the same greedy choice everywhere.
MAX_ABS_DIFF = 1e-5


@dataclass(frozen=True)
class ParityReport:
    """How closely onnxruntime reproduces torch on the checked observations."""

    model: str
    recorded: int
    random: int
    max_abs_diff: float
    greedy_mismatches: int

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= MAX_ABS_DIFF and self.greedy_mismatches == 0

    def line(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        return (
            f"parity {self.model}: {self.recorded} recorded + {self.random} random observations, "
            f"max |onnx - torch| = {self.max_abs_diff:.2e} (limit {MAX_ABS_DIFF:.0e}), "
            f"greedy mismatches {self.greedy_mismatches} -> {verdict}"
        )


def export_onnx(
    module: torch.nn.Module, input_size: int, path: str | os.PathLike[str], opset: int = DEFAULT_OPSET
) -> Path:
    """Write ``module`` as ONNX with input ``observation [batch, input_size]`` and output
    ``scores [batch, n_actions]`` (dynamic batch axis), then run ``onnx.checker`` on the file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, input_size, dtype=torch.float32)
    module = module.eval()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo export, which needs
        # onnxscript; for plain MLP policies both produce the same graph.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    return path


def simplify_onnx(path: str | os.PathLike[str]) -> Path:
    """Fold constants and fuse nodes with onnxruntime's basic graph optimisations, in place.

    Basic optimisations only emit standard ONNX operators, so the result still passes
    ``onnx.checker`` and runs in any onnxruntime; parity must be checked again afterwards.
    """
    path = Path(path)
    optimised = path.with_suffix(".simplified.onnx")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(optimised)
    ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    onnx.checker.check_model(onnx.load(str(optimised)), full_check=True)
    os.replace(optimised, path)
    return path


def random_observations(recorded: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` random observations spread over (and a margin beyond) the recorded range,
    so parity is also checked off the states the policy happened to visit."""
    rng = np.random.default_rng(seed)
    low, high = recorded.min(axis=0), recorded.max(axis=0)
    span = np.maximum(high - low, 1.0)
    samples = rng.uniform(low - 0.5 * span, high + 0.5 * span, size=(count, recorded.shape[1]))
    return samples.astype(np.float32)


def check_parity(
    module: torch.nn.Module,
    onnx_path: str | os.PathLike[str],
    recorded: np.ndarray,
    n_valid_actions: int,
    *,
    n_random: int = 2000,
    seed: int = 0,
    name: str = "policy",
) -> ParityReport:
    """Compare torch and onnxruntime scores on ``recorded`` plus ``n_random`` random observations;
    greedy choices are the argmax over the first ``n_valid_actions`` scores."""
    recorded = np.asarray(recorded, dtype=np.float32)
    if recorded.ndim != 2 or len(recorded) == 0:
        raise UserInputError(f"{onnx_path}: parity needs a non-empty [n, features] array of observations")
    observations = np.concatenate([recorded, random_observations(recorded, n_random, seed)])
    with torch.no_grad():
        expected = module.eval()(torch.from_numpy(observations)).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (actual,) = session.run([OUTPUT_NAME], {INPUT_NAME: observations})
    greedy_torch = expected[:, :n_valid_actions].argmax(axis=1)
    greedy_onnx = actual[:, :n_valid_actions].argmax(axis=1)
    return ParityReport(
        model=name,
        recorded=len(recorded),
        random=n_random,
        max_abs_diff=float(np.abs(actual - expected).max()),
        greedy_mismatches=int((greedy_torch != greedy_onnx).sum()),
    )
