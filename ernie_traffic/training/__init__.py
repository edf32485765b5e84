"""Training runs: config, run directories, checkpoints and resume, metrics, seeds, progress."""

from ernie_traffic.training.config import TrainConfig
from ernie_traffic.training.loop import TrainResult, train
from ernie_traffic.training.run_dir import RunDirectory

__all__ = ["RunDirectory", "TrainConfig", "TrainResult", "train"]
