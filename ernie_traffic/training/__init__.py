"""Training runs: config, run directories, checkpoints and resume, metrics, seeds, progress.

The loop itself is :func:`ernie_traffic.training.loop.train` (imported from there, since it
depends on the controllers, which read run directories from here).
"""

from ernie_traffic.training.config import TrainConfig
from ernie_traffic.training.run_dir import RunDirectory

__all__ = ["RunDirectory", "TrainConfig"]
