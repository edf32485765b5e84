"""Signed bundles: an operator's Ed25519 key signs ``manifest.json``; a controller verifies it.

The manifest carries the SHA-256 of every other file of the bundle, so a signature over the
manifest's exact bytes covers the whole bundle: changing any byte of the manifest breaks the
signature, changing any byte of a listed file breaks that file's hash. The signature lives beside
the manifest in ``manifest.sig`` (JSON: the algorithm, the signing key's fingerprint and the
signature in base64); it is not listed in the manifest, which it signs.

Keys are PEM files: the private key (PKCS#8) stays with the operator who exports bundles, the
public key (SubjectPublicKeyInfo) goes to every controller that runs them (see docs/deploy.md).
``cryptography`` is imported only when a key is used, so a runtime without a trusted key starts as
fast as before.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNATURE_NAME = "manifest.sig"
ALGORITHM = "ed25519"


class SigningError(Exception):
    """An unusable key file or a bundle whose signature does not verify; one line naming the file."""


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """A short name of a public key for messages: the first 16 hex digits of its SHA-256."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def new_key_pair() -> tuple[bytes, bytes]:
    """A fresh Ed25519 key pair as PEM: (private key, PKCS#8 unencrypted; public key)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """The Ed25519 private key in PEM file ``path``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningError(f"{path}: not an unencrypted PEM private key ({_first_line(exc)})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path}: a {type(key).__name__}, not an Ed25519 private key")
    return key


def load_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """The Ed25519 public key in PEM file ``path`` (what a controller trusts)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise SigningError(f"{path}: not a PEM public key ({_first_line(exc)})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{path}: a {type(key).__name__}, not an Ed25519 public key")
    return key


def signature_document(manifest: bytes, private_key: Ed25519PrivateKey) -> bytes:
    """The content of ``manifest.sig`` for the manifest bytes ``manifest``."""
    document = {
        "algorithm": ALGORITHM,
        "key": fingerprint(private_key.public_key()),
        "signature": base64.b64encode(private_key.sign(manifest)).decode("ascii"),
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")


def verify_manifest(root: Path, manifest: bytes, trusted: Ed25519PublicKey) -> None:
    """Raise :class:`SigningError` unless ``root/manifest.sig`` is ``trusted``'s signature of the
    manifest bytes ``manifest`` (read once by the caller, so the bytes checked are the bytes used)."""
    from cryptography.exceptions import InvalidSignature

    path = root / SIGNATURE_NAME
    if not path.is_file():
        raise SigningError(f"{path}: missing; the bundle is not signed and a trusted key was given")
    document = _read_signature(path)
    try:
        trusted.verify(document["signature"], manifest)
    except InvalidSignature:
        ours = fingerprint(trusted)
        if document["key"] != ours:
            raise SigningError(
                f"{path}: signed by key {document['key']}, not by the trusted key {ours}"
            ) from None
        raise SigningError(
            f"{path}: the signature does not match manifest.json: the manifest was altered after signing"
        ) from None


def _read_signature(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_bytes())
        if document["algorithm"] != ALGORITHM:
            raise SigningError(f"{path}: algorithm {document['algorithm']!r}, expected {ALGORITHM!r}")
        key = document["key"]
        if not (isinstance(key, str) and re.fullmatch("[0-9a-f]{16}", key)):
            raise SigningError(f"{path}: key: expected a 16-digit hex fingerprint")
        return {"key": key, "signature": base64.b64decode(document["signature"], validate=True)}
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, binascii.Error) as exc:
        raise SigningError(f"{path}: not a bundle signature ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
