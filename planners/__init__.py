"""Experiment planners: from a dataset fingerprint to plans.json (target spacing, patch, network, batch).

Planners are registered by name (``-pl NAME``); importing this package registers the built-in ones.
"""

from planners import default  # noqa: F401  (registers "default")
from planners.registry import get_planner, planner_names, register_planner

__all__ = ["get_planner", "planner_names", "register_planner"]
