"""A named registry: what planners, trainers, losses, networks, tasks, normalisation schemes, converters and
stand-ins share. Reading any registry first loads the plug-ins (autoseg/plugins.py), once."""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from autoseg.errors import AutosegError
from autoseg.plugins import load_plugins

T = TypeVar("T")


class Registry(Generic[T]):
    """Items by name; ``get`` of an unknown name raises an AutosegError listing the known ones."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item
        return item

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of ``add``."""
        return lambda item: self.add(name, item)

    def get(self, name: str) -> T:
        load_plugins()
        if name not in self._items:
            raise AutosegError(f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._items))}.")
        return self._items[name]

    def registered(self, name: str) -> T | None:
        """The item registered as ``name`` so far, without loading plug-ins (for use while registering)."""
        return self._items.get(name)

    def names(self) -> list[str]:
        load_plugins()
        return sorted(self._items)

    def __iter__(self) -> Iterator[T]:
        load_plugins()
        return iter(list(self._items.values()))

    def __contains__(self, name: str) -> bool:
        load_plugins()
        return name in self._items
