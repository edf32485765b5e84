"""The bundle's ``manifest.json``: written here, read and verified by ``ernie_deploy.bundle``.

The writer verifies its own output with the runtime's loader, so a bundle the exporter returns
is one the runtime accepts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ernie_deploy.bundle import (
    BUNDLE_FORMAT,
    BUNDLE_FORMAT_VERSION,
    MANIFEST_NAME,
    Bundle,
    load_bundle,
    sha256_file,
)
from ernie_deploy.policy import OnnxPolicy

from ernie_traffic.export.onnx_model import INPUT_NAME, OUTPUT_NAME
from ernie_traffic.utils.io import atomic_write_json


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
