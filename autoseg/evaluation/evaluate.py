"""Per-case and mean metrics of predicted label files against references (summary.json)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from autoseg.errors import AutosegError
from autoseg.evaluation.metrics import segmentation_metrics
from autoseg.io import atomic_write, read_image

Structures = dict[str, tuple[int, ...]]  # structure name -> the label values it covers (one for a label, several for a region)


def parse_structures(texts: list[str]) -> Structures:
    """``["1", "2", "1,2,4"]`` (``-l``) -> {"1": (1,), "2": (2,), "1,2,4": (1, 2, 4)}: labels, and regions as comma-joined values."""
    structures = {}
    for text in texts:
        try:
            values = tuple(int(v) for v in text.split(","))
        except ValueError:
            raise AutosegError(f"-l {text!r}: give label values (1) or regions as comma-separated values (1,2,4).") from None
        if 0 in values:
            raise AutosegError(f"-l {text!r}: background (0) is not scored; leave it out.")
        structures[text] = values
    return structures


def structure_masks(label_map: np.ndarray, structures: Structures) -> dict[str, np.ndarray]:
    return {name: np.isin(label_map, values) for name, values in structures.items()}


def score_label_maps(predicted: np.ndarray, expected: np.ndarray, structures: Structures, spacing) -> dict[str, dict[str, float]]:
    """Returns {structure: metrics} of two label maps of one grid."""
    predicted_masks, reference_masks = structure_masks(predicted, structures), structure_masks(expected, structures)
    return {name: segmentation_metrics(predicted_masks[name], reference_masks[name], spacing) for name in structures}


def read_pair(prediction: Path, reference: Path) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    """Returns (prediction, reference, the reference's spacing) of one case, refusing different grids."""
    predicted, expected = read_image(prediction), read_image(reference)
    if predicted.spatial_shape != expected.spatial_shape:
        raise AutosegError(
            f"{prediction} has shape {predicted.spatial_shape} but its reference {reference} has {expected.spatial_shape}; "
            "predict in the reference's geometry."
        )
    return predicted.array[0], expected.array[0], expected.geometry.spacing


def evaluate_case(prediction: Path, reference: Path, structures: Structures) -> dict[str, dict[str, float]]:
    """Returns {structure: metrics} for one case; distances use the reference's spacing (mm)."""
    predicted, expected, spacing = read_pair(prediction, reference)
    return score_label_maps(predicted, expected, structures, spacing)


def summarise(per_case: dict[str, dict[str, dict[str, float]]]) -> dict:
    """Returns {"cases": per_case, "mean": {structure: {metric: mean}}, "foreground_mean": {metric: mean of structures}}.

    Means skip NaN (nothing to score); a metric NaN in every case stays NaN.
    """
    structures = sorted({name for case in per_case.values() for name in case})
    metrics = sorted({metric for case in per_case.values() for values in case.values() for metric in values})

    def mean(values):
        finite = [v for v in values if not math.isnan(v)]
        return float(np.mean(finite)) if finite else math.nan

    means = {s: {m: mean([case[s][m] for case in per_case.values() if s in case]) for m in metrics} for s in structures}
    foreground = {m: mean([means[s][m] for s in structures]) for m in metrics}
    return {"cases": per_case, "mean": means, "foreground_mean": foreground}


def write_summary(path: Path, summary: dict) -> None:
    """Writes summary.json atomically (NaN as null, so any JSON reader accepts it)."""

    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            return None
        return value

    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(clean(summary), indent=2) + "\n"))


def read_summary(path: Path) -> dict:
    """Reads a summary.json back, with null (nothing to score) as NaN again."""

    def restore(value):
        if isinstance(value, dict):
            return {k: restore(v) for k, v in value.items()}
        return math.nan if value is None else value

    return restore(json.loads(path.read_text()))
