"""Typed configuration of the hardware-in-the-loop simulator (``ernie-traffic deploy simulate``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from ernie_deploy.timing import MIN_YELLOW_S
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ernie_traffic.envs.traffic.config import TrafficEnvConfig


class SnmpSettings(BaseModel):
    """How runtimes authenticate. ``version="3"`` (user with HMAC-SHA-256 authentication and AES-128
    privacy) is the production setting; ``"2c"`` sends the community in clear and is for loopback."""

    model_config = ConfigDict(extra="forbid")

    version: Literal["2c", "3"] = "2c"
    community: str = Field("public", min_length=1, description="SNMPv2c community string")
    user: str = Field("ernie", min_length=1, description="SNMPv3 user name")
    auth_key: str = Field("", description="SNMPv3 authentication pass phrase (at least 8 characters)")
    priv_key: str = Field("", description="SNMPv3 privacy pass phrase (at least 8 characters)")

    @model_validator(mode="after")
    def _check(self) -> SnmpSettings:
        if self.version == "3" and (len(self.auth_key) < 8 or len(self.priv_key) < 8):
            raise ValueError("SNMPv3 needs auth_key and priv_key of at least 8 characters each")
        return self


class HilConfig(BaseModel):
    """A hardware-in-the-loop run: the street (``traffic``), one SNMP agent per signalised
    intersection on ``host:base_port + i`` (intersections in sorted TLS id order), and how the
    simulation clock follows the runtimes."""

    model_config = ConfigDict(extra="forbid")

    traffic: TrafficEnvConfig = Field(
        default_factory=lambda: TrafficEnvConfig(backend="traci"),
        description="network, demand, seed, decision interval (= detector sample period) and signal timing",
    )
    host: str = Field("127.0.0.1", description="address the agents bind to; loopback unless told otherwise")
    base_port: int = Field(16100, ge=1024, le=65000, description="UDP port of the first intersection's agent")
    snmp: SnmpSettings = Field(default_factory=SnmpSettings)
    mode: Literal["lockstep", "realtime"] = Field(
        "lockstep",
        description="lockstep: each sample period waits for every connected runtime's command (or the "
        "deadline); realtime: one simulated second per wall-clock second",
    )
    lockstep_deadline_s: float = Field(
        2.0, gt=0, le=60, description="wall seconds a lockstep period waits for late runtimes"
    )
    startup_timeout_s: float = Field(
        30.0, ge=0, le=600, description="wall seconds the first period waits for every runtime to connect"
    )
    watchdog_s: float = Field(
        15.0, gt=0, description="simulated seconds without a command after which a controller runs fixed time"
    )
    notify_samples: bool = Field(
        True,
        description="send the sampleReady notification (SNMPv2c) to the runtimes at each new sample; "
        "false: runtimes find new samples by polling, as with a controller without notifications",
    )
    signal_log: Path | None = Field(
        None, description="where SUMO logs every signal state it shows (tlsStates XML); default: a temp file"
    )

    @model_validator(mode="before")
    @classmethod
    def _traci_by_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("traffic"), dict):
            data = {**data, "traffic": {"backend": "traci", **data["traffic"]}}
        return data

    @model_validator(mode="after")
    def _check(self) -> HilConfig:
        if self.traffic.backend != "traci":
            raise ValueError("the simulator drives SUMO through TraCI: set traffic.backend='traci'")
        if self.traffic.control != "agents":
            raise ValueError("the virtual controllers drive the signals: traffic.control must be 'agents'")
        if self.traffic.yellow_time < MIN_YELLOW_S:
            raise ValueError(
                f"traffic.yellow_time {self.traffic.yellow_time:g} s: no cabinet times a yellow change "
                f"under {MIN_YELLOW_S:g} s"
            )
        if self.watchdog_s < self.traffic.decision_interval:
            raise ValueError(
                f"watchdog_s ({self.watchdog_s}) must be at least one decision interval "
                f"({self.traffic.decision_interval} s), or every runtime would time out between commands"
            )
        return self
