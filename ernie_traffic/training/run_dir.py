"""A run directory: resolved config, checkpoints, the deployable policy, metrics and evaluation.

```
<run>/config.yaml       the full resolved TrainConfig (``--config`` reads it back)
<run>/checkpoint.pt     latest training state (atomic); ``--resume`` continues from it
<run>/policy.pt         the trained decentralized policy; ``load_controller(<run>)`` reads it
<run>/metrics.jsonl     one JSON line per training episode
<run>/evaluation.json   final evaluation of the learner against classical controllers
```
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path
from typing import Any

import torch

from ernie_traffic.errors import UserInputError
from ernie_traffic.utils.io import append_jsonl, atomic_write_bytes, atomic_write_json, read_jsonl


def save_torch(path: Path, obj: Any) -> Path:
    """``torch.save`` through an atomic write: a killed run never leaves half a file."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_torch(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise UserInputError(f"{path}: cannot read checkpoint: {exc}") from exc


class RunDirectory:
    """Paths and reads/writes of one run's folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config = self.path / "config.yaml"
        self.checkpoint = self.path / "checkpoint.pt"
        self.policy = self.path / "policy.pt"
        self.metrics = self.path / "metrics.jsonl"
        self.evaluation = self.path / "evaluation.json"

    def append_metrics(self, record: dict[str, Any]) -> None:
        append_jsonl(self.metrics, record)

    def read_metrics(self) -> list[dict[str, Any]]:
        return read_jsonl(self.metrics)

    def keep_metrics_before(self, episode: int) -> None:
        """Drop records of episodes ≥ ``episode`` (written after the checkpoint a resume starts from)."""
        kept = [r for r in self.read_metrics() if r["episode"] < episode]
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept)
        atomic_write_bytes(self.metrics, text.encode("utf-8"))

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        save_torch(self.checkpoint, state)

    def load_checkpoint(self) -> dict[str, Any]:
        if not self.checkpoint.is_file():
            raise UserInputError(f"{self.checkpoint}: no checkpoint to resume from")
        return load_torch(self.checkpoint)

    def save_evaluation(self, results: dict[str, Any]) -> None:
        atomic_write_json(self.evaluation, results)
