"""Typed configuration of the traffic environment (loadable from YAML/TOML with
``ernie_traffic.utils.config_files``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PerturbationConfig(BaseModel):
    """One perturbation: a registered ``name``, a severity ``level`` in [0, 1] (0 = none, 1 = the
    strongest setting of the registry's scale) and optional ``params`` overriding the scale."""

    model_config = ConfigDict(extra="forbid")

    name: str
    level: float = Field(1.0, ge=0.0, le=1.0)
    params: dict[str, Any] = Field(default_factory=dict)


# What a trained policy saw and how often it decided: see TrafficEnvConfig.sensing.
SENSING_FIELDS = ("detector_length", "decision_interval", "max_green")


class TrafficEnvConfig(BaseModel):
    """Everything that defines a traffic-signal episode."""

    model_config = ConfigDict(extra="forbid")

    network: str = Field("grid2x2", description="bundled or RESCO network name, or a path to a .net.xml")
    route_files: list[Path] | None = Field(None, description="route files replacing the scenario's own")
    additional_files: list[Path] = Field(
        default_factory=list, description="extra SUMO additional files, e.g. a Webster program"
    )
    episode_seconds: float | None = Field(
        None, gt=0, description="simulated seconds per episode; default: the scenario's begin..end window"
    )
    decision_interval: float = Field(5.0, gt=0, description="simulated seconds between two decisions")
    yellow_time: float = Field(3.0, ge=0, description="yellow between conflicting greens (s)")
    red_clearance: float = Field(2.0, ge=0, description="all-red after yellow (s)")
    min_green: float = Field(5.0, ge=0, description="a green is held at least this long (s)")
    max_green: float = Field(60.0, gt=0, description="a green is ended after this long (s)")
    detector_length: float | None = Field(
        100.0,
        gt=0,
        description="lane-area detector length from the stop line (m), a radar or video zone; "
        "None: the whole lane",
    )
    reward: str = Field("queue", description="reward function name (see REWARDS)")
    control: Literal["agents", "fixed_time", "actuated"] = Field(
        "agents", description="who drives the signals: the agents' actions or SUMO's own program"
    )
    perturbations: list[PerturbationConfig] = Field(default_factory=list)
    backend: Literal["libsumo", "traci"] = Field("libsumo", description="traci is needed for the GUI")
    gui: bool = False
    time_to_teleport: float = Field(300.0, description="SUMO --time-to-teleport (s); negative disables")
    seed: int = 0

    def sensing(self) -> dict[str, float | None]:
        """The settings a trained policy's observations and decision timing depend on: a policy
        acts only in an environment with the same (``LearnedController.reset`` checks)."""
        return {name: getattr(self, name) for name in SENSING_FIELDS}

    @model_validator(mode="after")
    def _check(self) -> TrafficEnvConfig:
        if self.max_green < self.min_green:
            raise ValueError(f"max_green ({self.max_green}) must not be below min_green ({self.min_green})")
        if self.decision_interval != int(self.decision_interval):
            raise ValueError(
                f"decision_interval ({self.decision_interval}) must be whole seconds (SUMO steps 1 s)"
            )
        if self.gui and self.backend != "traci":
            raise ValueError("gui=True needs backend='traci' (libsumo cannot drive sumo-gui)")
        return self
