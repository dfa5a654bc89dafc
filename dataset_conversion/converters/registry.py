"""Registry of converters from public dataset layouts, filled by a decorator."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from autoseg.errors import AutosegError
from autoseg.paths import datasets_in
from autoseg.registry import Registry


@dataclass(frozen=True)
class Converter:
    """``convert(source, raw_root, dataset_id, name, overwrite)`` writes a raw dataset and returns its folder."""

    key: str
    summary: str
    default_name: str
    convert: Callable[..., Path]


CONVERTERS: Registry[Converter] = Registry("converter")


def register_converter(key: str, summary: str, default_name: str):
    def decorate(function: Callable[..., Path]) -> Callable[..., Path]:
        CONVERTERS.add(key, Converter(key, summary, default_name, function))
        return function

    return decorate


def get_converter(key: str) -> Converter:
    return CONVERTERS.get(key)


def converters() -> list[Converter]:
    return sorted(CONVERTERS, key=lambda c: c.key)


def convert_dataset(
    key: str,
    source: Path,
    raw_root: Path,
    *,
    dataset_id: int | None = None,
    name: str | None = None,
    overwrite: bool = False,
    channels: list[str] | None = None,
) -> Path:
    """Converts the public dataset at ``source`` with converter ``key``; returns the raw dataset folder.

    Without ``dataset_id``, the id in the source's name (``Task04_...``,
    ``Dataset027_...``) is used, else the lowest id not taken in ``raw_root``.
    ``channels``: for converters that pick channels by name (dicom_folder), which ones.
    """
    converter = get_converter(key)
    options = {}
    if channels:
        if "channels" not in inspect.signature(converter.convert).parameters:
            raise AutosegError(f"--channels picks series by name for dicom_folder; the {key} layout names its channels itself.")
        options["channels"] = list(channels)
    source = Path(source)
    if not source.exists():
        raise AutosegError(f"{source}: no such file or folder to convert.")
    if dataset_id is None:
        dataset_id = default_dataset_id(source, Path(raw_root))
    return converter.convert(source, Path(raw_root), dataset_id, name=name or converter.default_name, overwrite=overwrite, **options)


def default_dataset_id(source: Path, raw_root: Path) -> int:
    """Returns the id named by ``source`` (TaskXX_Name, DatasetXXX_Name) if free, else the lowest free id from 1."""
    taken = set(datasets_in(raw_root))
    match = re.match(r"^(?:Task|Dataset)(\d+)_", source.name)
    if match and int(match[1]) not in taken:
        return int(match[1])
    return next(i for i in range(1, len(taken) + 2) if i not in taken)
