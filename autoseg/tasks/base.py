"""A task kind, bound to its dataset, and the registry of kinds.

``Task`` combines the small interfaces of autoseg/tasks/interfaces/ (training, outputs, evaluation, report
view); each kind lives in its own package (autoseg/tasks/<kind>/: the task, its raw-reference format, its report
view and what else it owns), and a plug-in adds a kind from outside (docs/extending.md)."""

from __future__ import annotations

from autoseg.dataset import DatasetSpec
from autoseg.registry import Registry
from autoseg.tasks.interfaces import CaseResult, Evaluation, Outputs, ReportView, Training

__all__ = ["TASKS", "CaseResult", "Task", "get_task", "register_task", "task_for", "task_names"]


class Task(Training, Outputs, Evaluation, ReportView):
    """What varies between task kinds, bound to one dataset (``task_for(spec)``). A kind implements the abstract
    methods of each interface and overrides what else differs; code outside autoseg/tasks asks the task and
    never branches on its kind."""

    name = ""

    def __init__(self, spec: DatasetSpec):
        self.spec = spec


TASKS: Registry[type[Task]] = Registry("task")


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: registers a task kind under ``cls.name``, the value of ``task`` in dataset.json."""
    TASKS.add(cls.name, cls)
    return cls


def get_task(name: str) -> type[Task]:
    return TASKS.get(name)


def task_for(spec: DatasetSpec) -> Task:
    """The task of ``spec``'s kind, bound to it."""
    return get_task(spec.task)(spec)


def task_names() -> list[str]:
    return TASKS.names()
