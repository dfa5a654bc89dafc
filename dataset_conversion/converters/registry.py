"""Registry of converters from public dataset layouts, filled by a decorator."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from autoseg.errors import AutosegError


@dataclass(frozen=True)
class Converter:
    """``convert(source, raw_root, dataset_id, name, overwrite)`` writes a raw dataset and returns its folder."""

    key: str
    summary: str
    default_name: str
    convert: Callable[..., Path]


_CONVERTERS: dict[str, Converter] = {}


def register_converter(key: str, summary: str, default_name: str):
    def decorate(function: Callable[..., Path]) -> Callable[..., Path]:
        _CONVERTERS[key] = Converter(key, summary, default_name, function)
        return function

    return decorate


def get_converter(key: str) -> Converter:
    if key not in _CONVERTERS:
        raise AutosegError(f"unknown converter {key!r}; known: {', '.join(sorted(_CONVERTERS))}.")
    return _CONVERTERS[key]


def converters() -> list[Converter]:
    return sorted(_CONVERTERS.values(), key=lambda c: c.key)


def convert_dataset(key: str, source: Path, raw_root: Path, dataset_id: int, name: str | None = None, overwrite: bool = False) -> Path:
    """Converts the public dataset at ``source`` with converter ``key``; returns the raw dataset folder."""
    converter = get_converter(key)
    source = Path(source)
    if not source.exists():
        raise AutosegError(f"{source}: no such file or folder to convert.")
    return converter.convert(source, Path(raw_root), dataset_id, name or converter.default_name, overwrite)
