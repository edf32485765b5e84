"""Controller bundles: a folder with ``manifest.json`` and the ONNX models it names.

The manifest is the whole contract between the exporter (``ernie_traffic.export``) and this
runtime. :func:`load_bundle` checks it completely before anything runs: the format, every field's
type, the SHA-256 of every file, and that each model's input and output sizes agree with the
observation and phase table of the intersections that use it. Any problem raises
:class:`BundleError` with a one-line reason, so a controller refuses to start rather than start
wrong.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ernie_deploy import signing
from ernie_deploy.features import ObservationLayout
from ernie_deploy.timing import TimingConfig

MANIFEST_NAME = "manifest.json"
BUNDLE_FORMAT = "ernie-controller-bundle"
BUNDLE_FORMAT_VERSION = 1


class BundleError(Exception):
    """A bundle the runtime must not run; ``str(error)`` is one line naming the file and the problem."""


@dataclass(frozen=True)
class PlanStep:
    """One step of the fixed-time fallback plan: show green ``green`` for ``duration_s`` seconds."""

    green: int
    duration_s: float


@dataclass(frozen=True)
class ModelSpec:
    """One ONNX file: its named input ``[batch, input_size]`` and output ``[batch, output_size]``."""

    name: str
    file: str
    input: str
    output: str
    input_size: int
    output_size: int


@dataclass(frozen=True)
class ModelInput:
    """How a model shared by several intersections tells them apart: its input row is the
    observation zero-padded to ``pad_to`` features, then a one-hot of ``index`` among ``count``."""

    pad_to: int
    index: int
    count: int

    @property
    def width(self) -> int:
        return self.pad_to + self.count

    @property
    def id_column(self) -> int:
        """The input column that is 1.0 for this intersection."""
        return self.pad_to + self.index


@dataclass(frozen=True)
class IntersectionSpec:
    """One signalised intersection: what it observes, its phases, its timing and its fallback plan.

    ``phases`` are the network program's SUMO signal state strings and ``green_phases`` the indices
    of the phases a policy may choose, in action order; ``features`` describes each entry of the
    observation vector (name, detector source, normalisation) for people, ``layout`` is what
    ``ernie_deploy.features`` computes it from. ``model_input`` is None when the observation is
    the model's input as it is.
    """

    id: str
    model: str
    layout: ObservationLayout
    features: tuple[Mapping[str, Any], ...]
    phases: tuple[str, ...]
    green_phases: tuple[int, ...]
    timing: TimingConfig
    fallback_plan: tuple[PlanStep, ...]
    model_input: ModelInput | None = None

    @property
    def green_states(self) -> tuple[str, ...]:
        return tuple(self.phases[i] for i in self.green_phases)


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: manifest contents plus the folder the model files are in."""

    root: Path
    network: str
    decision_interval_s: float
    opset: int
    models: Mapping[str, ModelSpec]
    intersections: Mapping[str, IntersectionSpec]
    training: Mapping[str, Any]
    files: Mapping[str, str]

    def model_path(self, model: str) -> Path:
        return self.root / self.models[model].file


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Fields:
    """Typed access to one JSON object of a file (the manifest, a cabinet file); every failure
    names where in the file, raised as ``error`` (BundleError for the manifest)."""

    def __init__(self, data: Any, where: str, source: Path, error: type[Exception] = BundleError) -> None:
        if not isinstance(data, Mapping):
            raise error(f"{source}: {where}: expected an object, got {type(data).__name__}")
        self.data, self.where, self.source, self.error = data, where, source, error

    def fail(self, key: str, problem: str) -> Exception:
        return self.error(f"{self.source}: {self.where}.{key}: {problem}")

    def get(self, key: str, kind: type | tuple[type, ...]) -> Any:
        if key not in self.data:
            raise self.fail(key, "missing")
        value = self.data[key]
        # true/false decode to bool, which Python counts as an int: refuse it where a number is due.
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.fail(key, f"expected {_kind_name(kind)}, got a boolean")
        if not isinstance(value, kind):
            raise self.fail(key, f"expected {_kind_name(kind)}, got {type(value).__name__}")
        return value

    def number(self, key: str, *, positive: bool = False) -> float:
        value = float(self.get(key, (int, float)))
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            wanted = "positive" if positive else "non-negative"
            raise self.fail(key, f"expected a {wanted} number, got {value}")
        return value

    def count(self, key: str) -> int:
        value = self.get(key, int)
        if value <= 0:
            raise self.fail(key, f"expected a positive integer, got {value}")
        return value

    def child(self, key: str) -> Fields:
        return Fields(self.get(key, Mapping), f"{self.where}.{key}", self.source, self.error)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", list: "a list", Mapping: "an object"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


_TIMING_KEYS = ("yellow_time", "red_clearance", "min_green", "max_green")
_POSITIVE_TIMING_KEYS = ("yellow_time", "min_green", "max_green")


def _parse_model(name: str, fields: Fields) -> ModelSpec:
    return ModelSpec(
        name=name,
        file=fields.get("file", str),
        input=fields.get("input", str),
        output=fields.get("output", str),
        input_size=fields.count("input_size"),
        output_size=fields.count("output_size"),
    )


def _parse_phases(fields: Fields) -> tuple[tuple[str, ...], tuple[int, ...]]:
    phases = tuple(fields.get("phases", list))
    if not phases or not all(isinstance(p, str) and p for p in phases):
        raise fields.fail("phases", "expected a non-empty list of SUMO signal state strings")
    if len({len(p) for p in phases}) != 1:
        raise fields.fail("phases", "signal state strings differ in length")
    green_phases = tuple(fields.get("green_phases", list))
    if not green_phases or not all(isinstance(g, int) and 0 <= g < len(phases) for g in green_phases):
        raise fields.fail("green_phases", f"expected indices into the {len(phases)} phases")
    return phases, green_phases


def parse_timing(fields: Fields) -> TimingConfig:
    """A ``timing`` object (seconds) of a manifest or a cabinet file."""
    # A zero yellow or zero minimum green would let a change happen in no time at all, which
    # no signal may do: the runtime refuses such a bundle rather than trust it.
    values = {key: fields.number(key, positive=key in _POSITIVE_TIMING_KEYS) for key in _TIMING_KEYS}
    try:
        return TimingConfig(**values)
    except ValueError as exc:
        raise fields.error(f"{fields.source}: {fields.where}: {exc}") from exc


def _parse_observation(
    fields: Fields, n_greens: int
) -> tuple[ObservationLayout, tuple[Mapping[str, Any], ...]]:
    try:
        layout = ObservationLayout.from_dict(fields.get("layout", Mapping))
    except (KeyError, TypeError, ValueError) as exc:
        raise fields.fail("layout", f"not a valid observation layout ({type(exc).__name__}: {exc})") from exc
    if len(layout.detector_ids) != len(layout.detector_capacity):
        raise fields.fail("layout", "detector_ids and detector_capacity differ in length")
    if layout.n_green_phases != n_greens:
        raise fields.fail(
            "layout", f"counts {layout.n_green_phases} green phases, the phase table {n_greens}"
        )
    features = tuple(fields.get("features", list))
    if len(features) != layout.size:
        raise fields.fail("features", f"lists {len(features)} features but the layout makes {layout.size}")
    return layout, features


def _parse_plan(fields: Fields, n_greens: int) -> tuple[PlanStep, ...]:
    plan = []
    for i, step in enumerate(fields.get("fallback_plan", list)):
        step_fields = Fields(step, f"{fields.where}.fallback_plan[{i}]", fields.source)
        green = step_fields.get("green", int)
        if not 0 <= green < n_greens:
            raise step_fields.fail("green", f"{green} is not one of the {n_greens} green phases")
        plan.append(PlanStep(green=green, duration_s=step_fields.number("duration_s", positive=True)))
    if not plan:
        raise fields.fail("fallback_plan", "is empty; a controller needs a fixed-time plan to fall back to")
    return tuple(plan)


def _parse_model_input(fields: Fields, layout: ObservationLayout) -> ModelInput | None:
    if "model_input" not in fields.data:
        return None
    sub = fields.child("model_input")
    model_input = ModelInput(
        pad_to=sub.count("pad_to"), index=sub.get("index", int), count=sub.count("count")
    )
    if model_input.pad_to < layout.size:
        raise sub.fail("pad_to", f"{model_input.pad_to} is shorter than the observation ({layout.size})")
    if not 0 <= model_input.index < model_input.count:
        raise sub.fail("index", f"{model_input.index} is not below count {model_input.count}")
    return model_input


def _parse_intersection(tls_id: str, fields: Fields, models: Mapping[str, ModelSpec]) -> IntersectionSpec:
    model = fields.get("model", str)
    if model not in models:
        raise fields.fail("model", f"names model {model!r}, which the manifest's models do not list")
    phases, green_phases = _parse_phases(fields)
    layout, features = _parse_observation(fields.child("observation"), len(green_phases))
    model_input = _parse_model_input(fields, layout)
    width = model_input.width if model_input else layout.size
    spec = models[model]
    if spec.input_size != width:
        raise fields.fail(
            "model", f"model {model!r} takes {spec.input_size} inputs but this intersection gives {width}"
        )
    if spec.output_size < len(green_phases):
        raise fields.fail(
            "model",
            f"model {model!r} scores {spec.output_size} actions but there are {len(green_phases)} greens",
        )
    return IntersectionSpec(
        id=tls_id,
        model=model,
        layout=layout,
        features=features,
        phases=phases,
        green_phases=green_phases,
        timing=parse_timing(fields.child("timing")),
        fallback_plan=_parse_plan(fields, len(green_phases)),
        model_input=model_input,
    )


def parse_manifest(data: Any, root: Path, source: Path) -> Bundle:
    """Validate manifest ``data`` (already decoded JSON) for a bundle in folder ``root``."""
    top = Fields(data, "manifest", source)
    if top.get("format", str) != BUNDLE_FORMAT:
        raise top.fail("format", f"expected {BUNDLE_FORMAT!r}: this is not an ernie-traffic bundle")
    version = top.get("format_version", int)
    if version != BUNDLE_FORMAT_VERSION:
        raise top.fail(
            "format_version", f"{version} is unsupported (this runtime reads {BUNDLE_FORMAT_VERSION})"
        )
    models_fields = top.child("models")
    models = {name: _parse_model(name, models_fields.child(name)) for name in models_fields.data}
    if not models:
        raise top.fail("models", "is empty")
    tls_fields = top.child("intersections")
    intersections = {tls: _parse_intersection(tls, tls_fields.child(tls), models) for tls in tls_fields.data}
    if not intersections:
        raise top.fail("intersections", "is empty")
    files = top.child("files")
    hashes = {name: files.get(name, str) for name in files.data}
    for model in models.values():
        if model.file not in hashes:
            raise top.fail("files", f"has no SHA-256 for model file {model.file!r}")
    return Bundle(
        root=root,
        network=top.get("network", str),
        decision_interval_s=top.number("decision_interval_s", positive=True),
        opset=top.count("opset"),
        models=models,
        intersections=intersections,
        training=top.get("training", Mapping),
        files=hashes,
    )


def verify_files(bundle: Bundle) -> None:
    """Check that every file listed in the manifest exists inside the bundle with its SHA-256."""
    for name, expected in bundle.files.items():
        path = (bundle.root / name).resolve()
        if bundle.root.resolve() not in path.parents:
            raise BundleError(f"{bundle.root / MANIFEST_NAME}: files: {name!r} lies outside the bundle")
        if not path.is_file():
            raise BundleError(f"{path}: listed in the manifest but missing")
        actual = sha256_file(path)
        if actual != expected:
            raise BundleError(
                f"{path}: SHA-256 {actual[:12]}… does not match the manifest ({expected[:12]}…)"
            )


def load_bundle(
    root: str | os.PathLike[str],
    *,
    network: str | None = None,
    trust_key: str | os.PathLike[str] | None = None,
) -> Bundle:
    """Read and verify the bundle in folder ``root``; ``network`` (if given) must match the
    manifest's. With ``trust_key`` (an Ed25519 public key PEM file) the bundle must be signed by
    that key (``ernie_deploy.signing``); without, signatures are not looked at."""
    root = Path(root)
    source = root / MANIFEST_NAME
    if not source.is_file():
        raise BundleError(f"{source}: not found; a controller bundle is a folder with a manifest.json")
    raw = source.read_bytes()  # read once: the bytes whose signature is checked are the bytes parsed
    if trust_key is not None:
        try:
            signing.verify_manifest(root, raw, signing.load_public_key(trust_key))
        except signing.SigningError as exc:
            raise BundleError(str(exc)) from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{source}: not valid JSON: {exc}") from exc
    bundle = parse_manifest(data, root, source)
    if network is not None and bundle.network != network:
        raise BundleError(f"{source}: bundle is for network {bundle.network!r}, not {network!r}")
    verify_files(bundle)
    return bundle
