"""ONNX policies: one onnxruntime session per model file of a bundle."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from ernie_deploy.bundle import Bundle, BundleError, ModelSpec


def _session_options() -> ort.SessionOptions:
    # A controller scores a handful of small vectors per decision: one thread avoids the
    # thread-pool wake-up that dominates the latency of tiny models.
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return options


class OnnxPolicy:
    """Scores green phases for a batch of observations with one ONNX model of a bundle.

    The model's named input and output must exist with the sizes the manifest declares; a file
    that is truncated, not ONNX, or another model raises :class:`BundleError` when loading.

    >>> policy = OnnxPolicy(bundle, bundle.models["policy"])      # doctest: +SKIP
    >>> policy.scores(np.zeros((4, policy.spec.input_size), np.float32)).shape   # doctest: +SKIP
    (4, 4)
    """

    def __init__(self, bundle: Bundle, spec: ModelSpec) -> None:
        self.spec = spec
        path = bundle.model_path(spec.name)
        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=_session_options(), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BundleError(f"{path}: not a loadable ONNX model: {first}") from exc
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = {o.name: o for o in self.session.get_outputs()}
        if spec.input not in inputs:
            raise BundleError(f"{path}: has no input {spec.input!r} (inputs: {sorted(inputs)})")
        if spec.output not in outputs:
            raise BundleError(f"{path}: has no output {spec.output!r} (outputs: {sorted(outputs)})")
        _check_width(path, "input", spec.input, inputs[spec.input].shape, spec.input_size)
        _check_width(path, "output", spec.output, outputs[spec.output].shape, spec.output_size)

    def scores(self, observations: np.ndarray) -> np.ndarray:
        """Scores ``[batch, output_size]`` for float32 observations ``[batch, input_size]``."""
        (result,) = self.session.run([self.spec.output], {self.spec.input: observations})
        return result


def _check_width(path: object, kind: str, name: str, shape: list[object], expected: int) -> None:
    if len(shape) != 2:
        raise BundleError(f"{path}: {kind} {name!r} has shape {shape}, expected [batch, {expected}]")
    if shape[1] != expected:
        raise BundleError(f"{path}: {kind} {name!r} has width {shape[1]} but the manifest says {expected}")
