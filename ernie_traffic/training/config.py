"""The typed config of a training run, loadable from YAML/TOML and overridable by CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ernie_traffic.algorithms.coma import ComaConfig
from ernie_traffic.algorithms.qcombo import QcomboConfig
from ernie_traffic.algorithms.regularization import RegularizerName, RegularizerSettings
from ernie_traffic.controllers.classical import ClassicalName
from ernie_traffic.envs.traffic import TrafficEnvConfig
from ernie_traffic.evaluation.evaluate import evaluation_seeds


class TrainConfig(BaseModel):
    """Everything that defines a training run; saved as ``config.yaml`` in its run directory.

    Only the section of the chosen ``algo`` (``qcombo`` or ``coma``) is used.
    """

    model_config = ConfigDict(extra="forbid")

    env: TrafficEnvConfig = Field(default_factory=TrafficEnvConfig, description="traffic environment")
    algo: Literal["qcombo", "coma"] = Field("qcombo", description="learner")
    reg: RegularizerName = Field("ernie", description="regularizer: none, ernie, ernie-a or gaussian")
    regularizer: RegularizerSettings = Field(default_factory=RegularizerSettings)
    qcombo: QcomboConfig = Field(default_factory=QcomboConfig)
    coma: ComaConfig = Field(default_factory=ComaConfig)
    episodes: int = Field(15, ge=1, description="training episodes")
    reward_scale: float = Field(
        0.05, gt=0, description="factor on the rewards the learner sees (logged returns stay unscaled)"
    )
    seed: int = Field(0, ge=0, description="seed of networks, exploration and simulations")
    checkpoint_every: int = Field(1, ge=1, description="episodes between checkpoints")
    eval_episodes: int = Field(2, ge=0, description="evaluation episodes after training (0: none)")
    baselines: list[ClassicalName] = Field(
        ["fixed-time", "max-pressure"], description="classical controllers evaluated beside the learner"
    )
    out_dir: Path = Field(Path("runs"), description="folder holding the run directories")
    name: str | None = Field(None, description="run directory name; default: network-algo-reg-seedN")

    @property
    def algo_config(self) -> QcomboConfig | ComaConfig:
        return self.qcombo if self.algo == "qcombo" else self.coma

    def run_family(self) -> str:
        """Name shared by the seeds of this run (their parent folder with ``--seeds``)."""
        network = Path(self.env.network).name.removesuffix(".net.xml")
        return self.name or f"{network}-{self.algo}-{self.reg}"

    def run_name(self) -> str:
        return self.name or f"{self.run_family()}-seed{self.seed}"

    def training_seed(self, episode: int) -> int:
        """SUMO seed of a training episode (below the evaluation seeds for any realistic run)."""
        return self.seed * 100_000 + episode

    def evaluation_seeds(self) -> list[int]:
        return evaluation_seeds(self.eval_episodes)
