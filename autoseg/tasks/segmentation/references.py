"""Segmentation's raw references: one integer label map per case, its values declared in dataset.json's ``labels``
(with regions, the ignore label and DICOM-SEG segment codes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autoseg.dataset.checks import IGNORE_LABEL, is_int, label_value_problems
from autoseg.dataset.layout import Problem
from autoseg.dataset.references import ImageReferences, register_reference_format
from autoseg.dataset.segment_codes import KEY as SEGMENT_CODES
from autoseg.dataset.segment_codes import segment_code_problems
from autoseg.io import ImageData

if TYPE_CHECKING:
    from autoseg.dataset.dataset_json import DatasetSpec


@register_reference_format
class LabelMaps(ImageReferences):
    """Segmentation: one integer label map per case, its values declared in ``labels``."""

    name = "segmentation"
    grid_mismatch = "label does not match the images"
    keys = ("labels", "regions_class_order", SEGMENT_CODES)

    def spec_problems(self, data: dict) -> list[str]:
        return _label_problems(data) or segment_code_problems(data)

    def fields(self, data: dict) -> dict[str, Any]:
        """``labels`` (regions as tuples), ``regions_class_order`` (a tuple, or None) and ``segment_codes``."""
        order = data.get("regions_class_order")
        return {
            "labels": {name: tuple(value) if isinstance(value, list) else value for name, value in data["labels"].items()},
            "regions_class_order": tuple(order) if order is not None else None,
            "segment_codes": data.get(SEGMENT_CODES, {}),
        }

    def json_fields(self, spec: DatasetSpec) -> dict[str, Any]:
        data: dict[str, Any] = {"labels": {k: list(v) if isinstance(v, tuple) else v for k, v in spec.labels.items()}}
        if spec.regions_class_order is not None:
            data["regions_class_order"] = list(spec.regions_class_order)
        if spec.segment_codes:
            data[SEGMENT_CODES] = spec.segment_codes
        return data

    def file_problems(self, reference: ImageData, images: ImageData, spec: DatasetSpec, where: str) -> list[Problem]:
        problems = super().file_problems(reference, images, spec, where) + label_value_problems(reference, spec.label_values(), where)
        if spec.ignore_label is not None and not problems and (reference.array == spec.ignore_label).all():
            problems.append(
                Problem(where, f"holds no annotated voxel (every voxel is {IGNORE_LABEL!r}); it adds nothing to training", blocking=False)
            )
        return problems


def _label_problems(data: dict) -> list[str]:
    labels = data.get("labels")
    if not isinstance(labels, dict) or not labels:
        return ['\'labels\' must be a non-empty object mapping label names to integers, e.g. {"background": 0, "tumour": 1}']
    problems = []
    plain_values = []
    for name, value in labels.items():
        if is_int(value):
            plain_values.append(value)
            if value < 0:
                problems.append(f"label {name!r} has negative value {value}")
        elif isinstance(value, list) and value and all(is_int(v) and v > 0 for v in value):
            continue
        else:
            problems.append(f"label {name!r} must be an integer, or a list of positive integers for a region; got {value!r}")
    if 0 not in plain_values:
        problems.append("'labels' must declare background with value 0, e.g. \"background\": 0")
    duplicates = sorted({v for v in plain_values if plain_values.count(v) > 1})
    if duplicates:
        problems.append(f"label values {duplicates} are used by more than one label name")
    used = set(plain_values) | {v for value in labels.values() if isinstance(value, list) for v in value if is_int(v)}
    if not duplicates and not problems and sorted(used) != list(range(len(used))):
        problems.append(
            f"label values must be consecutive from 0 (each value is an output channel); got {sorted(used)}. "
            "Renumber the label files (e.g. 0, 1, 2, 4 -> 0, 1, 2, 3), or declare regions for nested structures"
        )
    ignore = labels.get(IGNORE_LABEL)
    if IGNORE_LABEL in labels and (not is_int(ignore) or any(v > ignore for v in used if is_int(v) and v != ignore)):
        problems.append(
            f"the {IGNORE_LABEL!r} label must be a single value above every other label (nnU-Net's convention), got {ignore!r}; "
            f"give it the value {max((v for v in used if v != ignore), default=0) + 1} and renumber the label files"
        )
    if any(isinstance(v, list) for v in labels.values()):
        order = data.get("regions_class_order")
        num_regions = len(labels) - 1 - (IGNORE_LABEL in labels)
        if not isinstance(order, list) or len(order) != num_regions or not all(is_int(v) for v in order):
            problems.append(
                f"region labels need 'regions_class_order', a list of {num_regions} integers (one per non-background entry"
                f"{', the ignore label left out' if IGNORE_LABEL in labels else ''})"
            )
        elif IGNORE_LABEL in labels and ignore in order:
            problems.append(f"'regions_class_order' holds the {IGNORE_LABEL!r} value {ignore}; it is never predicted, leave it out")
    return problems
