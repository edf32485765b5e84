"""The bundle's ``manifest.json``: written here, read and verified by ``ernie_deploy.bundle``.

The writer verifies its own output with the runtime's loader, so a bundle the exporter returns
is one the runtime accepts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ernie_deploy import signing
from ernie_deploy.bundle import (
    BUNDLE_FORMAT,
    BUNDLE_FORMAT_VERSION,
    MANIFEST_NAME,
    Bundle,
    ModelInput,
    load_bundle,
    sha256_file,
)
from ernie_deploy.features import ObservationLayout
from ernie_deploy.policy import OnnxPolicy
from ernie_deploy.timing import TimingConfig

from ernie_traffic.errors import UserInputError
from ernie_traffic.export.onnx_model import INPUT_NAME, OUTPUT_NAME
from ernie_traffic.utils.io import atomic_write_bytes, atomic_write_json

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def model_entry(file: str, input_size: int, output_size: int) -> dict[str, Any]:
    return {
        "file": file,
        "input": INPUT_NAME,
        "output": OUTPUT_NAME,
        "input_size": input_size,
        "output_size": output_size,
    }


def write_manifest(
    out_dir: str | os.PathLike[str],
    *,
    network: str,
    decision_interval_s: float,
    opset: int,
    models: Mapping[str, Mapping[str, Any]],
    intersections: Mapping[str, Mapping[str, Any]],
    training: Mapping[str, Any],
) -> Bundle:
    """Hash every file already in ``out_dir``, write the manifest, and load the bundle back
    exactly as the runtime will (hashes, schema, model sizes): a broken bundle fails here."""
    out_dir = Path(out_dir)
    files = {
        path.relative_to(out_dir).as_posix(): sha256_file(path)
        for path in sorted(out_dir.rglob("*"))
        if path.is_file() and path.name != MANIFEST_NAME
    }
    manifest = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_FORMAT_VERSION,
        "network": network,
        "decision_interval_s": decision_interval_s,
        "opset": opset,
        "models": dict(models),
        "intersections": dict(intersections),
        "training": dict(training),
        "files": files,
    }
    atomic_write_json(out_dir / MANIFEST_NAME, manifest)
    bundle = load_bundle(out_dir)
    for spec in bundle.models.values():
        OnnxPolicy(bundle, spec)
    return bundle


def load_signing_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """The operator's Ed25519 private key (``ernie-traffic deploy keygen``) to sign a bundle with."""
    try:
        return signing.load_private_key(path)
    except signing.SigningError as exc:
        raise UserInputError(str(exc)) from None


def sign_bundle(out_dir: str | os.PathLike[str], key: Ed25519PrivateKey) -> str:
    """Sign the bundle's manifest (``manifest.sig``), check the signature as a runtime trusting the
    key will, and return the key's fingerprint."""
    out_dir = Path(out_dir)
    manifest = (out_dir / MANIFEST_NAME).read_bytes()
    atomic_write_bytes(out_dir / signing.SIGNATURE_NAME, signing.signature_document(manifest, key))
    signing.verify_manifest(out_dir, manifest, key.public_key())
    return signing.fingerprint(key.public_key())


def describe_features(layout: ObservationLayout) -> list[dict[str, str]]:
    """One entry per observation feature, in vector order (``ernie_deploy.features`` layout):
    its name, where the value comes from, and how it is normalised."""
    features = [
        _feature(f"green_{g}", "signal timer: green shown or being left", "one-hot")
        for g in range(layout.n_green_phases)
    ]
    features.append(_feature("in_transition", "signal timer: yellow or red clearance shown", "0 or 1"))
    max_green = f"/ {layout.max_green:g} s (max green), clipped to [0, 1]"
    features.append(_feature("time_in_stage", "signal timer: seconds in the current stage", max_green))
    for kind, what in (("count", "vehicles"), ("queue", "halting vehicles (speed < 0.1 m/s)")):
        features += [
            _feature(
                f"{kind}:{detector}",
                f"lane-area detector {detector}: {what}",
                f"/ {capacity:.4g} (vehicles the detector holds), clipped to [0, 1]",
            )
            for detector, capacity in zip(layout.detector_ids, layout.detector_capacity, strict=True)
        ]
    return features


def _feature(name: str, source: str, normalisation: str) -> dict[str, str]:
    return {"name": name, "source": source, "normalisation": normalisation}


def fallback_plan(
    phases: Sequence[str], durations: Sequence[float], green_phases: Sequence[int]
) -> list[dict]:
    """The network program's own cycle as a plan of greens: each green phase of the program, in
    program order, for its programmed duration (yellows and red clearance come from the shield)."""
    action_of_state = {phases[g]: action for action, g in enumerate(green_phases)}
    return [
        {"green": action_of_state[state], "duration_s": float(duration)}
        for state, duration in zip(phases, durations, strict=True)
        if state in action_of_state and duration > 0
    ]


def intersection_entry(
    *,
    model: str,
    layout: ObservationLayout,
    phases: Sequence[str],
    phase_durations: Sequence[float],
    green_phases: Sequence[int],
    timing: TimingConfig,
    model_input: ModelInput | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "model": model,
        "observation": {"layout": layout.to_dict(), "features": describe_features(layout)},
        "phases": list(phases),
        "green_phases": list(green_phases),
        "timing": asdict(timing),
        "fallback_plan": fallback_plan(phases, phase_durations, green_phases),
    }
    if model_input is not None:
        entry["model_input"] = asdict(model_input)
    return entry
