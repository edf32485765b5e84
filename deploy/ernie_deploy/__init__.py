"""Controller runtime: observation assembly, signal timing/safety shield, ONNX inference.

numpy and onnxruntime (cryptography for signed bundles), no torch. ``load_bundle`` verifies an
exported bundle; ``ControllerRuntime`` runs it (see ``docs/deploy.md``).
"""

from ernie_deploy.bundle import Bundle, BundleError, load_bundle
from ernie_deploy.runtime import ControllerRuntime, Decision

__all__ = ["Bundle", "BundleError", "ControllerRuntime", "Decision", "load_bundle"]
