"""Registry of experiment planners, selected with ``-pl NAME``."""

from __future__ import annotations

from typing import Callable

from autoseg.errors import AutosegError

_PLANNERS: dict[str, Callable] = {}


def register_planner(name: str):
    """Decorator registering ``plan(fingerprint, spec, gpu_memory_gb) -> Plans`` under ``name``."""

    def decorate(function: Callable) -> Callable:
        _PLANNERS[name] = function
        return function

    return decorate


def get_planner(name: str) -> Callable:
    if name not in _PLANNERS:
        raise AutosegError(f"unknown planner {name!r}; known: {', '.join(sorted(_PLANNERS))}.")
    return _PLANNERS[name]


def planner_names() -> list[str]:
    return sorted(_PLANNERS)
