"""One evaluation path for every controller."""

from ernie_traffic.evaluation.evaluate import evaluate, run_episode

__all__ = ["evaluate", "run_episode"]
