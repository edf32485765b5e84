"""One evaluation path for every controller."""

from ernie_traffic.evaluation.evaluate import evaluate, evaluation_seeds, run_episode

__all__ = ["evaluate", "evaluation_seeds", "run_episode"]
