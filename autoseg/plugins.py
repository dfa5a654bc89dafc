"""Plug-ins: modules outside the package that register trainers, losses, optimisers, schedules, networks,
planners, normalisation schemes, converters or task kinds.

Two ways to name them, both read once, before any registry is first read
(``autoseg.registry.Registry`` calls ``load_plugins``):

* an installed package's entry points in the group ``autoseg.plugins``
  (``[project.entry-points."autoseg.plugins"] mine = "my_package.autoseg_plugin"``);
  loading one imports its module, whose decorators register what it adds;
* ``AUTOSEG_PLUGINS``: comma-separated module names, imported from the current
  directory or ``PYTHONPATH`` (``AUTOSEG_PLUGINS=my_trainers autoseg train ...``).

A plug-in that fails to import is an AutosegError naming it; the failure is
kept and raised again at every later registry read, so nothing runs without it.
"""

from __future__ import annotations

import importlib
import os
import sys
from importlib.metadata import entry_points

from autoseg.errors import AutosegError

ENTRY_POINT_GROUP = "autoseg.plugins"
ENVIRONMENT_VARIABLE = "AUTOSEG_PLUGINS"

_state: dict = {"loaded": False, "loading": False, "error": None, "modules": []}


def load_plugins() -> list[str]:
    """Imports every plug-in once; returns the names loaded. Raises AutosegError naming a plug-in that fails."""
    if _state["error"] is not None:
        raise _state["error"]
    if _state["loaded"] or _state["loading"]:
        return list(_state["modules"])
    _state["loading"] = True
    try:
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            _load(f"plug-in {entry.name!r} (entry point {entry.value!r} in group {ENTRY_POINT_GROUP})", entry.load, entry.value)
        for name in filter(None, (part.strip() for part in os.environ.get(ENVIRONMENT_VARIABLE, "").split(","))):
            _load(f"plug-in module {name!r} (from {ENVIRONMENT_VARIABLE})", lambda name=name: _import_from_here(name), name)
        _state["loaded"] = True
    except AutosegError as error:
        _state["error"] = error
        raise
    finally:
        _state["loading"] = False
    return list(_state["modules"])


def _load(what: str, load, name: str) -> None:
    try:
        load()
    except AutosegError:
        raise
    except Exception as error:  # an import error, or any exception the module raised while registering
        raise AutosegError(
            f"{what} failed to load: {type(error).__name__}: {error}. Fix the module, or remove it from "
            f"{ENVIRONMENT_VARIABLE} (or uninstall the package whose entry point names it)."
        ) from error
    _state["modules"].append(name)


def _import_from_here(name: str) -> None:
    """Imports module ``name`` with the current directory on the path (as ``python -m`` would find it)."""
    here = os.getcwd()
    added = here not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        importlib.import_module(name)
    finally:
        if added and here in sys.path:
            sys.path.remove(here)
