"""One evaluation path for every controller."""

from ernie_traffic.evaluation.evaluate import evaluate, evaluation_seeds, run_episode, validation_seeds

__all__ = ["evaluate", "evaluation_seeds", "run_episode", "validation_seeds"]
