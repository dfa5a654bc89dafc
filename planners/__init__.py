"""Experiment planners: from a dataset fingerprint to plans.json (target spacing, patch, network, batch).

A planner is a frozen dataclass of its rules (``Planner``), registered by name
(``-pl NAME``); presets are ``replace(DEFAULT, ...)``. Importing this package
registers the built-in ones: ``default`` and the residual-encoder presets
``resenc_m``, ``resenc_l`` and ``resenc_xl``.
"""

from planners import presets  # noqa: F401  (registers the presets)
from planners.default import DEFAULT, Planner
from planners.registry import get_planner, planner_names, register_planner

__all__ = ["DEFAULT", "Planner", "get_planner", "planner_names", "register_planner"]
