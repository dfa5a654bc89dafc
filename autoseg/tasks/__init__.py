"""The one place where segmentation, regression and classification differ.

Every stage asks the task object of a dataset (``task_for(spec)``, bound to
it) instead of branching on the task's kind. Task kinds are registered by
name, the value of ``task`` in dataset.json; one module per kind.
"""

from autoseg.tasks import classification, regression, segmentation  # noqa: F401  (registers the kinds)
from autoseg.tasks.base import Task, get_task, register_task, task_for, task_names

__all__ = ["Task", "get_task", "register_task", "task_for", "task_names"]
