"""Small checks shared by dataset.json's parser, the reference formats, verify and evaluate."""

from __future__ import annotations

from typing import Any

import numpy as np

from autoseg.dataset.layout import Problem
from autoseg.io import ImageData


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def index_map_problems(key: str, mapping: Any, what: str) -> list[str]:
    if not isinstance(mapping, dict) or not mapping:
        return [f'\'{key}\' must be a non-empty object mapping "0", "1", ... to {what} names']
    problems = []
    if not all(isinstance(k, str) and k.isdigit() for k in mapping):
        problems.append(f'\'{key}\' keys must be "0", "1", ...; got {sorted(mapping)}')
    elif sorted(int(k) for k in mapping) != list(range(len(mapping))):
        problems.append(f'\'{key}\' keys must run from "0" to "{len(mapping) - 1}" without gaps; got {sorted(mapping, key=int)}')
    if not all(isinstance(v, str) and v for v in mapping.values()):
        problems.append(f"'{key}' values must be non-empty strings")
    return problems



def grid_problems(image: ImageData, reference: ImageData, where: str, what: str) -> list[Problem]:
    """``image`` against the grid of ``reference``: its shape, then its spacing, origin and direction."""
    if image.spatial_shape != reference.spatial_shape:
        return [Problem(where, f"{what}: shape {image.spatial_shape} vs {reference.spatial_shape}")]
    differences = image.geometry.differences(reference.geometry)
    return [Problem(where, f"{what}: {'; '.join(differences)}")] if differences else []


def label_value_problems(label: ImageData, declared: set[int], where: str) -> list[Problem]:
    """A label map's values against the integers dataset.json declares (background included)."""
    if label.num_channels != 1:
        return [Problem(where, f"a label file must have one channel, this one has {label.num_channels}")]
    values = np.unique(label.array)
    if np.issubdtype(values.dtype, np.floating) and not np.array_equal(values, np.round(values)):
        return [Problem(where, "label holds non-integer values; labels must be integers")]
    undeclared = sorted(set(values.astype(np.int64).tolist()) - declared)
    if undeclared:
        listed = ", ".join(str(v) for v in sorted(declared))
        return [Problem(where, f"label values {undeclared} are not declared in dataset.json's labels (declared: {listed})")]
    return []
