"""Without the drones extra (the main environment), drone runs fail with one clear line."""

import importlib.util

import pytest

from ernie_traffic.envs.drones import DroneEnvConfig, make_drone_env
from ernie_traffic.errors import UserInputError

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("PyFlyt") is not None, reason="the drones extra is installed here"
)


def test_missing_pyflyt_names_the_extra():
    with pytest.raises(UserInputError, match=r"\.\[drones\]"):
        make_drone_env(DroneEnvConfig())
