"""A named registry: what planners, trainers, losses, networks, tasks, normalisation schemes, converters and
stand-ins share. Reading any registry first loads the plug-ins (autoseg/plugins.py), once."""

from __future__ import annotations

import importlib
import sys
from typing import Callable, Generic, Iterator, TypeVar

from autoseg.errors import AutosegError
from autoseg.plugins import load_plugins

T = TypeVar("T")
_PROJECT = {"autoseg", "planners", "dataset_conversion"}


def _registering_module() -> str:
    """The module whose body made the registration (the first module-level frame up the stack, past the decorators
    and helpers that call ``add``): a built-in module, or a plug-in."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_name != "<module>":
        frame = frame.f_back
    return frame.f_globals.get("__name__", "") if frame is not None else ""


class Registry(Generic[T]):
    """Items by name; ``get`` of an unknown name raises an AutosegError listing the known ones."""

    def __init__(self, kind: str, builtins: str | None = None):
        """``builtins``: a module whose import registers the built-in entries, imported on the first read (as plug-ins
        are): for a registry of a lower layer that the layers above it fill (the task kinds' reference formats)."""
        self.kind = kind
        self._builtins = builtins
        self._items: dict[str, T] = {}
        self._origins: dict[str, str] = {}  # name -> the module whose import registered it

    def add(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item
        self._origins[name] = _registering_module()
        return item

    def from_plugins(self) -> list[str]:
        """The names plug-ins registered (autoseg check_plugins runs the contract tests on them)."""
        self._load()
        return sorted(name for name, module in self._origins.items() if name in self._items and module.split(".")[0] not in _PROJECT)

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of ``add``."""
        return lambda item: self.add(name, item)

    def _load(self) -> None:
        if self._builtins is not None:
            module, self._builtins = self._builtins, None
            importlib.import_module(module)
        load_plugins()

    def get(self, name: str) -> T:
        self._load()
        if name not in self._items:
            raise AutosegError(f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._items))}.")
        return self._items[name]

    def registered(self, name: str) -> T | None:
        """The item registered as ``name`` so far, without loading plug-ins (for use while registering)."""
        return self._items.get(name)

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def __iter__(self) -> Iterator[T]:
        self._load()
        return iter(list(self._items.values()))

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._items
