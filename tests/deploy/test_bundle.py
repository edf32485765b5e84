"""A bundle loads only when every file matches its hash and the manifest is complete and consistent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ernie_deploy.bundle import MANIFEST_NAME, BundleError, load_bundle, sha256_file
from ernie_deploy.policy import OnnxPolicy

from ernie_traffic.export.onnx_model import export_onnx


def edit_manifest(root: Path, edit) -> None:
    path = root / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def rehash(root: Path) -> None:
    """Make the manifest's hashes match the files again, as a careless hand-edit would."""

    def update(manifest):
        manifest["files"] = {name: sha256_file(root / name) for name in manifest["files"]}

    edit_manifest(root, update)


def assert_refused(root: Path, *fragments: str, **kwargs) -> None:
    with pytest.raises(BundleError) as info:
        bundle = load_bundle(root, **kwargs)
        for spec in bundle.models.values():
            OnnxPolicy(bundle, spec)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_exported_bundle_loads_and_scores_a_batch(make_bundle):
    bundle = make_bundle()
    loaded = load_bundle(bundle.root, network="toy")
    assert set(loaded.intersections) == {"J1", "J2"}
    assert loaded.intersections["J1"].green_phases == (0, 2)
    policy = OnnxPolicy(loaded, loaded.models["policy"])
    assert policy.scores(np.zeros((5, 8), np.float32)).shape == (5, 2)


def test_tampered_model_is_refused(make_bundle):
    root = make_bundle().root
    data = bytearray((root / "policy.onnx").read_bytes())
    data[-10] ^= 0xFF
    (root / "policy.onnx").write_bytes(bytes(data))
    assert_refused(root, "policy.onnx", "SHA-256", "does not match")


def test_tampered_manifest_hash_is_refused(make_bundle):
    root = make_bundle().root
    edit_manifest(root, lambda m: m["files"].update({"policy.onnx": "0" * 64}))
    assert_refused(root, "SHA-256")


def test_missing_model_file_is_refused(make_bundle):
    root = make_bundle().root
    (root / "policy.onnx").unlink()
    assert_refused(root, "policy.onnx", "missing")


def test_bundle_from_another_network_is_refused(make_bundle):
    assert_refused(make_bundle().root, "network 'toy'", "not 'grid2x2'", network="grid2x2")


@pytest.mark.parametrize(
    ("edit", "fragments"),
    [
        (lambda m: m.pop("intersections"), ["manifest.intersections", "missing"]),
        (lambda m: m.update(format="something-else"), ["manifest.format", "not an ernie-traffic"]),
        (lambda m: m.update(format_version=99), ["format_version", "99"]),
        (lambda m: m["intersections"]["J1"]["timing"].update(min_green="ten"), ["J1.timing.min_green"]),
        (lambda m: m["intersections"]["J1"]["timing"].update(max_green=5), ["J1.timing", "below min_green"]),
        (lambda m: m["intersections"]["J1"]["timing"].update(yellow_time=0), ["yellow_time", "positive"]),
        (
            lambda m: m["intersections"]["J1"]["observation"]["layout"].pop("detector_ids"),
            ["J1.observation.layout"],
        ),
        (
            lambda m: m["intersections"]["J1"]["observation"]["layout"].update(n_green_phases=3),
            ["3 green phases"],
        ),
        (lambda m: m["intersections"]["J1"].update(green_phases=[0, 7]), ["J1.green_phases"]),
        (lambda m: m["intersections"]["J1"].update(fallback_plan=[]), ["fallback_plan", "empty"]),
        (lambda m: m["intersections"]["J2"].update(model="other"), ["J2.model", "'other'"]),
        (lambda m: m["intersections"]["J1"]["observation"]["features"].pop(), ["7 features", "makes 8"]),
        (
            lambda m: m["models"]["policy"].update(input_size=10),
            ["takes 10 inputs", "this intersection gives 8"],
        ),
        (
            lambda m: m["intersections"]["J1"].update(model_input={"pad_to": 8, "index": 2, "count": 2}),
            ["J1.model_input.index", "2 is not below count 2"],
        ),
        (
            lambda m: m["intersections"]["J1"].update(model_input={"pad_to": 6, "index": 0, "count": 2}),
            ["J1.model_input.pad_to", "shorter than the observation"],
        ),
        (
            lambda m: m["intersections"]["J1"].update(model_input={"pad_to": 8, "index": 0, "count": 2}),
            ["takes 8 inputs but this intersection gives 10"],
        ),
    ],
)
def test_malformed_manifest_is_refused_with_one_line(make_bundle, edit, fragments):
    root = make_bundle().root
    edit_manifest(root, edit)
    assert_refused(root, *fragments)


def test_manifest_that_is_not_json_is_refused(make_bundle):
    root = make_bundle().root
    (root / MANIFEST_NAME).write_text("{not json")
    assert_refused(root, "not valid JSON")


def test_truncated_onnx_is_refused_even_with_matching_hash(make_bundle):
    root = make_bundle().root
    data = (root / "policy.onnx").read_bytes()
    (root / "policy.onnx").write_bytes(data[: len(data) // 2])
    rehash(root)
    assert_refused(root, "policy.onnx", "not a loadable ONNX model")


def test_foreign_onnx_with_other_input_size_is_refused(make_bundle, tmp_path):
    root = make_bundle().root
    torch.manual_seed(0)
    export_onnx(torch.nn.Linear(12, 2), 12, root / "policy.onnx")
    rehash(root)
    assert_refused(root, "input 'observation' has width 12", "manifest says 8")


def test_non_onnx_file_is_refused(make_bundle):
    root = make_bundle().root
    (root / "policy.onnx").write_text("this is a text file, not a model")
    rehash(root)
    assert_refused(root, "not a loadable ONNX model")


def test_deploy_run_refuses_a_bundle_whose_model_does_not_load_in_one_line(make_bundle):
    root = make_bundle().root
    (root / "policy.onnx").write_text("this is a text file, not a model")
    rehash(root)
    command = ["deploy", "run", "--controller", "127.0.0.1:9", "--bundle", str(root), "--timeout", "0.2"]
    result = subprocess.run(
        [sys.executable, "-m", "ernie_traffic", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {root / 'policy.onnx'}: not a loadable ONNX model"), line
