"""Signed bundles: an operator's Ed25519 key signs manifest.json; a runtime that trusts the public
key refuses an unsigned or altered bundle, one that trusts none behaves as before. Checked through
the real CLIs (`ernie-traffic deploy keygen`, `python -m ernie_deploy check`, `deploy run`)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from ernie_deploy.bundle import MANIFEST_NAME, BundleError, load_bundle
from ernie_deploy.signing import SIGNATURE_NAME
from test_deploy_package import run_alone

from ernie_traffic.export.manifest import load_signing_key, sign_bundle


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ernie_traffic", *args], capture_output=True, text=True, check=False
    )


def keygen(folder: Path) -> tuple[Path, Path]:
    done = cli("deploy", "keygen", "--out", str(folder))
    assert done.returncode == 0, done.stderr
    return folder / "bundle-signing.key", folder / "bundle-signing.pub"


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> tuple[Path, Path]:
    return keygen(tmp_path_factory.mktemp("keys"))


def check(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_alone("-m", "ernie_deploy", "check", str(root), "--decisions", "5", *extra)


def assert_one_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(tmp_path):
    private, public = keygen(tmp_path)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    before = private.read_bytes()
    again = cli("deploy", "keygen", "--out", str(tmp_path))
    assert again.returncode == 2 and "exists" in again.stderr
    assert private.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_signed_bundle_verifies_and_an_unsigned_one_loads_without_a_trusted_key(make_bundle, keys):
    private, public = keys
    unsigned = make_bundle(name="unsigned").root
    assert check(unsigned).returncode == 0  # without a trusted key nothing changes
    signed = make_bundle(name="signed").root
    sign_bundle(signed, load_signing_key(private))
    done = check(signed, "--trust-key", str(public))
    assert done.returncode == 0, done.stderr
    assert f"signature by {public} verified" in done.stdout
    assert check(signed).returncode == 0  # a signed bundle still runs where no key is trusted
    assert_one_error(check(unsigned, "--trust-key", str(public)), SIGNATURE_NAME, "not signed")


def test_any_altered_byte_of_the_manifest_is_refused(make_bundle, keys):
    private, public = keys
    root = make_bundle().root
    sign_bundle(root, load_signing_key(private))
    manifest = root / MANIFEST_NAME
    original = manifest.read_bytes()
    # A one-byte edit that keeps valid JSON and a loadable bundle: a longer minimum green.
    tampered = original.replace(b'"min_green": 10', b'"min_green": 11', 1)
    assert tampered != original and len(tampered) == len(original)
    manifest.write_bytes(tampered)
    assert load_bundle(root).intersections  # the edit alone would load
    assert_one_error(check(root, "--trust-key", str(public)), "altered after signing")
    manifest.write_bytes(original[:-1] + b" ")  # even whitespace counts
    assert_one_error(check(root, "--trust-key", str(public)), "altered after signing")


def test_an_altered_model_byte_is_refused_even_with_its_hash_unchanged_in_the_signed_manifest(
    make_bundle, keys
):
    private, public = keys
    root = make_bundle().root
    sign_bundle(root, load_signing_key(private))
    model = root / "policy.onnx"
    data = bytearray(model.read_bytes())
    data[-10] ^= 0x01
    model.write_bytes(bytes(data))
    assert_one_error(check(root, "--trust-key", str(public)), "policy.onnx", "SHA-256")


def test_a_bundle_signed_by_another_key_is_refused(make_bundle, keys, tmp_path):
    _, public = keys
    other_private, _ = keygen(tmp_path / "other")
    root = make_bundle().root
    sign_bundle(root, load_signing_key(other_private))
    assert_one_error(check(root, "--trust-key", str(public)), "not by the trusted key")
    with pytest.raises(BundleError, match="not by the trusted key"):
        load_bundle(root, trust_key=public)


def test_a_forged_signature_file_is_refused_in_one_line(make_bundle, keys):
    _, public = keys
    root = make_bundle().root
    forged = {"algorithm": "ed25519", "key": "x\ny", "signature": "AA=="}  # a newline to break the line
    (root / SIGNATURE_NAME).write_text(json.dumps(forged))
    assert_one_error(check(root, "--trust-key", str(public)), SIGNATURE_NAME, "fingerprint")


def test_a_trusted_key_that_is_not_a_public_key_is_refused(make_bundle, keys):
    private, _ = keys
    root = make_bundle().root
    assert_one_error(check(root, "--trust-key", str(private)), str(private), "public key")


def test_deploy_run_refuses_an_unsigned_bundle_before_it_talks_to_any_controller(make_bundle, keys):
    _, public = keys
    root = make_bundle().root
    done = cli(
        "deploy", "run", "--controller", "127.0.0.1:9", "--bundle", str(root), "--trust-key", str(public),
    )  # fmt: skip
    assert_one_error(done, "not signed")
