"""Studies: recipes (learner × regularizer × settings) trained on several seeds, stress-tested beside
classical controllers, one report (``ernie-traffic study``)."""

from ernie_traffic.study.config import Budget, Recipe, Study, load_study
from ernie_traffic.study.run import StudyResult, run_study

__all__ = ["Budget", "Recipe", "Study", "StudyResult", "load_study", "run_study"]
