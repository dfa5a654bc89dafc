"""Classification: one class per case (AD vs CN, tumour vs no tumour) from an encoder and a linear head.

``task``: the task kind; ``table``: predictions.csv and the labels table; ``metrics``: accuracy, AUC and the
summary; ``predict``: class probabilities of whole images; ``cross_validation``: merged folds, ensembles.
"""

from autoseg.tasks.classification import references  # noqa: F401  (registers the kind's reference format)
from autoseg.tasks.classification.task import ClassificationTask, ClassPrediction, TableWriter

__all__ = ["ClassPrediction", "ClassificationTask", "TableWriter"]
