"""Regression: image-to-image (low-dose to standard-dose PET), a float image per target in its own units.

``task``: the task kind; ``report``: its view in the QC report (input, prediction, reference, difference).
"""

from autoseg.tasks.regression import references  # noqa: F401  (registers the kind's reference format)
from autoseg.tasks.regression.task import RegressionTask

__all__ = ["RegressionTask"]
