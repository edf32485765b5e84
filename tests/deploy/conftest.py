"""Fixtures of the deploy tests: real bundles exported from small torch MLPs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from ernie_deploy.bundle import Bundle
from toy_bundle import build_bundle, mlp


@pytest.fixture
def make_bundle(tmp_path: Path) -> Callable[..., Bundle]:
    def make(module: torch.nn.Module | None = None, name: str = "bundle") -> Bundle:
        return build_bundle(tmp_path / name, module if module is not None else mlp())

    return make
