"""The regularizer config: defaults, rejected combinations, and build_regularizer."""

from __future__ import annotations

import pytest

from ernie_traffic.core import (
    ContinuousActionRegularizer,
    JointActionRegularizer,
    MeanFieldRegularizer,
    ObservationRegularizer,
    RegularizerConfig,
    build_regularizer,
)
from ernie_traffic.errors import UserInputError
from ernie_traffic.utils.config_files import build_config


def test_defaults_and_step_size():
    cfg = RegularizerConfig()
    assert (cfg.kind, cfg.norm, cfg.divergence, cfg.mode) == ("observation", "l2", "l2", "plain")
    assert cfg.resolved_step_size() == pytest.approx(2.5 * cfg.epsilon / cfg.steps)
    assert RegularizerConfig(step_size=0.01).resolved_step_size() == 0.01


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"mode": "stackelberg", "norm": "linf"}, "needs norm=l2"),
        ({"mode": "stackelberg-fd", "kind": "action"}, "not available"),
        ({"epsilon": 0}, "epsilon"),
        ({"divergence": "js"}, "divergence"),
        ({"spelling_mistake": 1}, "spelling_mistake"),
    ],
)
def test_invalid_configs_are_one_line_user_errors(fields, message):
    with pytest.raises(UserInputError, match=message):
        build_config(RegularizerConfig, fields, "regularizer.yaml")


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("observation", ObservationRegularizer),
        ("action", JointActionRegularizer),
        ("continuous_action", ContinuousActionRegularizer),
        ("mean_field", MeanFieldRegularizer),
    ],
)
def test_build_regularizer_by_kind(kind, cls):
    regularizer = build_regularizer(RegularizerConfig(kind=kind))
    assert isinstance(regularizer, cls) and regularizer.cfg.kind == kind
