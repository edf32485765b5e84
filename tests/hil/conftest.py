"""Fixtures of the HIL tests (helpers in ``hil_support``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hil_support import AgentInThread

from ernie_traffic.hil.config import SnmpSettings


@pytest.fixture
def agent_v2c() -> Iterator[AgentInThread]:
    agent = AgentInThread(SnmpSettings(community="s3cret"))
    yield agent
    agent.close()
