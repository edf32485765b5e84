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
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from ernie_traffic.errors import UserInputError, first_line
from ernie_traffic.utils.io import append_jsonl, atomic_write_bytes, atomic_write_json, read_jsonl

# Every toolkit process that runs torch reads or writes a run directory, and such processes run side
# by side, one per core (training seeds, stress cells, study runs): one torch thread each.
torch.set_num_threads(1)


def save_torch(path: Path, obj: Any) -> Path:
    """``torch.save`` through an atomic write: a killed run never leaves half a file.

    ``obj`` must hold tensors and plain data only (dicts, lists, tuples, strings, numbers, None):
    :func:`load_torch` reads nothing else."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_torch(path: Path, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The dict a run file (``checkpoint.pt``, ``policy.pt``) holds, read so that nothing in it runs.

    torch's weights-only unpickler builds tensors and plain data only: a file that names any other
    Python object (a crafted pickle's ``os.system``, an object of some class) is refused before
    anything in it is built, so a run directory received from someone else cannot run their code.
    ``required``: the keys the dict must have (a file of another structure is one error line).
    """
    try:
        with warnings.catch_warnings():
            # a pickle protocol other than torch's own draws a warning; the file is refused or read either way
            warnings.simplefilter("ignore", UserWarning)
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        named = re.search(r"GLOBAL (\S+)", str(exc))
        reason = (
            f"it names the Python object {named.group(1)}; run files may hold tensors and plain data only"
            if named
            else "not a torch file of tensors and plain data"
        )
        raise UserInputError(f"{path}: cannot read checkpoint: {reason}") from exc
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise UserInputError(f"{path}: cannot read checkpoint: {first_line(exc)}") from exc
    return require_keys(path, data, required, what=path.name)


def require_keys(source: Path, data: Any, keys: tuple[str, ...], what: str) -> dict[str, Any]:
    """``data`` itself when it is a dict with ``keys``; otherwise one error line naming ``source``."""
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise UserInputError(f"{source}: not an ernie-traffic {what}: holds a {kind}, not a dict")
    missing = [key for key in keys if key not in data]
    if missing:
        raise UserInputError(f"{source}: not an ernie-traffic {what}: no {', '.join(map(repr, missing))}")
    return data


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

    def begin(self, resume: bool) -> None:
        """Refuse what the training loops must not do: resume a run that has no checkpoint, or start a
        new run over one (a new run never replaces a checkpoint)."""
        if resume and not self.checkpoint.is_file():
            raise UserInputError(f"{self.checkpoint}: no checkpoint to resume from")
        if not resume and self.checkpoint.exists():
            raise UserInputError(
                f"{self.path}: already holds a run; pass --resume to continue it or choose another directory"
            )

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        save_torch(self.checkpoint, state)

    def load_checkpoint(self, required: tuple[str, ...] = ()) -> dict[str, Any]:
        """The checkpoint's dict (see :func:`load_torch`; ``required``: the keys it must have)."""
        if not self.checkpoint.is_file():
            raise UserInputError(f"{self.checkpoint}: no checkpoint to resume from")
        return load_torch(self.checkpoint, required)

    def save_evaluation(self, results: dict[str, Any]) -> None:
        atomic_write_json(self.evaluation, results)
