"""Small checks shared by dataset.json's parser, the reference formats, verify and evaluate."""

from __future__ import annotations

from typing import Any

import numpy as np

from autoseg.dataset.layout import Problem
from autoseg.io import ImageData

IGNORE_LABEL = "ignore"  # nnU-Net's name for the label of unannotated voxels (sparse annotations)


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


def names_by_index(key: str, mapping: Any, what: str, example: str, minimum: int = 1) -> tuple[dict[int, str], list[str]]:
    """{index: name} from a dataset.json map written either way round: index to name (``{"0": "CN", "1": "AD"}``,
    as ``channel_names``) or name to index (``{"CN": 0, "AD": 1}``, as ``labels``). Returns the map and the
    problems that make it unusable (then the map is empty); only what is ambiguous is refused."""
    plural = f"{what}es" if what.endswith("s") else f"{what}s"
    if not isinstance(mapping, dict) or len(mapping) < minimum:
        at_least = "at least two" if minimum == 2 else "one or more"
        return {}, [f"'{key}' must name {at_least} {plural}, index to name or name to index, e.g. {example}"]
    values = list(mapping.values())
    if all(isinstance(v, str) for v in values):
        problems = index_map_problems(key, mapping, what)
        return ({} if problems else {int(k): v for k, v in sorted(mapping.items(), key=lambda item: int(item[0]))}), problems
    if not all(is_int(v) for v in values):
        return {}, [f"'{key}' must map indices to {what} names or names to indices, one way for every entry; got {mapping}"]
    if sorted(values) != list(range(len(values))):
        return {}, [f"'{key}' maps {what} names to indices, which must be 0..{len(values) - 1}, each once; got {values}"]
    if not all(isinstance(name, str) and name for name in mapping):
        return {}, [f"'{key}' {what} names must be non-empty strings"]
    misleading = {name: index for name, index in mapping.items() if name.isdigit() and int(name) != index}
    if misleading:
        return {}, [
            f"'{key}' is ambiguous: {what} name(s) {sorted(misleading)} are numbers other than their own indices {misleading}, so "
            f'"{next(iter(misleading))}" could mean a name or an index; give the {plural} names that are not numbers, e.g. {example}'
        ]
    return {index: name for name, index in sorted(mapping.items(), key=lambda item: item[1])}, []


def content_problems(image: ImageData, where: str, check_constant: bool = True) -> list[Problem]:
    """What makes an image's voxels unusable: no voxels, NaN or infinite values, and (``check_constant``) one value
    everywhere (an empty channel)."""
    array = image.array
    if array.size == 0:
        return [Problem(where, f"is empty (shape {array.shape}); write the image again with its voxels")]
    bad = non_finite_count(array)
    if bad:
        return [Problem(where, f"contains {bad} NaN/Inf value(s); replace them (e.g. with 0) before training")]
    if check_constant:
        first = array.flat[0]
        if np.all(array == first):
            return [Problem(where, f"is empty: every voxel has the value {first}; remove the case or give it its real image")]
    return []


def non_finite_count(array: np.ndarray) -> int:
    """How many NaN or infinite values ``array`` holds (0 for integer arrays)."""
    return int(np.count_nonzero(~np.isfinite(array))) if np.issubdtype(array.dtype, np.floating) else 0


def grid_problems(image: ImageData, reference: ImageData, where: str, what: str) -> list[Problem]:
    """``image`` against the grid of ``reference``: its shape, then its spacing, origin and direction."""
    if image.spatial_shape != reference.spatial_shape:
        return [Problem(where, f"{what}: shape {image.spatial_shape} vs {reference.spatial_shape}; {_ONE_GRID}")]
    differences = image.geometry.differences(reference.geometry)
    return [Problem(where, f"{what}: {'; '.join(differences)}; {_ONE_GRID}")] if differences else []


_ONE_GRID = "resample it onto the images' grid (or correct its header)"


def label_value_problems(label: ImageData, declared: set[int] | None, where: str) -> list[Problem]:
    """A label map's values: one channel of integers, and only those dataset.json declares (background included;
    None: any integer)."""
    if label.num_channels != 1:
        return [Problem(where, f"a label file must have one channel, this one has {label.num_channels}; write the label map alone")]
    array = label.array
    if np.issubdtype(array.dtype, np.integer) and array.size and declared is not None:
        low, high = int(array.min()), int(array.max())
        # the usual case, decided without sorting every voxel (CT-sized maps)
        if high - low < len(declared) and set(range(low, high + 1)) <= declared:
            return []
    values = np.unique(array)
    if np.issubdtype(values.dtype, np.floating):
        values = values[np.isfinite(values)]  # NaN and infinity: content_problems' to report
        fractional = values[values != np.round(values)]
        if fractional.size:
            return [
                Problem(
                    where,
                    f"label holds non-integer values (e.g. {fractional[0]:g}); labels must be integers: write the label map again "
                    "from its integer labels (a resampled label map needs nearest-neighbour interpolation)",
                )
            ]
    undeclared = sorted(int(v) for v in values if int(v) not in declared) if declared is not None else []
    if undeclared:
        listed = ", ".join(str(v) for v in sorted(declared))
        shown = ", ".join(str(v) for v in undeclared[:8]) + (", ..." if len(undeclared) > 8 else "")
        return [
            Problem(
                where,
                f"label values [{shown}] are not declared in dataset.json's labels (declared: {listed}); correct the label file or "
                "declare them",
            )
        ]
    return []
