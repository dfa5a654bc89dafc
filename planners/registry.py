"""Registry of experiment planners, selected with ``-pl NAME``."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from autoseg.registry import Registry

if TYPE_CHECKING:
    from planners.default import Planner

P = TypeVar("P", bound="Planner")

PLANNERS: Registry[Planner] = Registry("planner")


def register_planner(planner: P) -> P:
    """Registers ``planner`` (a ``Planner``, or a preset ``replace(DEFAULT, name=...)``) under its name; returns it."""
    return PLANNERS.add(planner.name, planner)


def get_planner(name: str) -> Planner:
    return PLANNERS.get(name)


def planner_names() -> list[str]:
    return PLANNERS.names()
