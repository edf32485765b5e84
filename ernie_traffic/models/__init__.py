"""Neural networks of the learners; no loss logic lives here."""

from ernie_traffic.models.networks import (
    MLP,
    CentralCritic,
    GlobalQ,
    MultiAgentSpec,
    SharedAgentNet,
)

__all__ = ["MLP", "CentralCritic", "GlobalQ", "MultiAgentSpec", "SharedAgentNet"]
