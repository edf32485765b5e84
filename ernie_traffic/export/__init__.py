"""ONNX export of trained policies into controller bundles for ``ernie_deploy`` (see docs/deploy.md)."""
