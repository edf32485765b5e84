"""``export_run``: a training run directory -> a verified controller bundle."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from ernie_traffic.controllers.resolve import load_learned
from ernie_traffic.envs.traffic import TrafficSignalEnv
from ernie_traffic.errors import UserInputError
from ernie_traffic.export.bundle import ExportResult, SharedPolicy, export_bundle, record_observations
from ernie_traffic.export.manifest import load_signing_key, sign_bundle
from ernie_traffic.export.onnx_model import DEFAULT_OPSET
from ernie_traffic.runs import RunDirectory
from ernie_traffic.training.config import TrainConfig
from ernie_traffic.utils.config_files import load_config


def export_run(
    run_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    record_steps: int = 500,
    n_random: int = 2000,
    simplify: bool = False,
    opset: int = DEFAULT_OPSET,
    seed: int = 0,
    sign_key: str | os.PathLike[str] | None = None,
) -> ExportResult:
    """Export the trained policy of ``run_dir`` to a bundle in ``out_dir``.

    Parity is checked on the observations of ``record_steps`` decisions of the trained policy
    driving an unperturbed episode of the run's own environment (seed ``seed``), plus
    ``n_random`` random observations per intersection. With ``sign_key`` (an Ed25519 private key
    PEM file) the manifest is signed (``ExportResult.signed_by``: the key's fingerprint).
    """
    key = load_signing_key(sign_key) if sign_key is not None else None  # a bad key fails before the work
    run = RunDirectory(run_dir)
    if not run.config.is_file():
        raise UserInputError(f"{run.path}: no config.yaml (not a training run directory?)")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise UserInputError(f"{out_dir}: exists and is not empty; choose a new --out folder")
    config = load_config(TrainConfig, run.config)
    controller = load_learned(str(run.path))  # a run directory: config.yaml is there
    # The deployed controller sees the real street: record without the run's training perturbations.
    env = TrafficSignalEnv(
        config.env.model_copy(update={"perturbations": [], "control": "agents", "gui": False})
    )
    try:
        controller.reset(env)
        recorded = record_observations(env, controller.act, record_steps, seed)
        training = {
            "run": str(run.path.resolve()),
            "algo": controller.algo,
            "outputs": controller.outputs,
            "config": config.model_dump(mode="json"),
        }
        shared = SharedPolicy(
            module=controller.net,
            agents=controller.spec.agents,
            pad_to=controller.spec.max_obs,
            n_outputs=controller.spec.max_actions,
        )
        result = export_bundle(
            env,
            shared,
            out_dir,
            recorded=recorded,
            training=training,
            opset=opset,
            simplify=simplify,
            n_random=n_random,
            seed=seed,
        )
    finally:
        env.close()
    if key is None:
        return result
    return replace(result, signed_by=sign_bundle(out_dir, key))
