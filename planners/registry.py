"""Registry of experiment planners, selected with ``-pl NAME``."""

from __future__ import annotations

from typing import Callable

from autoseg.registry import Registry

PLANNERS: Registry[Callable] = Registry("planner")


def register_planner(name: str):
    """Decorator registering ``plan(fingerprint, spec, gpu_memory_gb) -> Plans`` under ``name``."""
    return PLANNERS.register(name)


def get_planner(name: str) -> Callable:
    return PLANNERS.get(name)


def planner_names() -> list[str]:
    return PLANNERS.names()
