"""Per-case and mean metrics of predicted label files against references (summary.json)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from autoseg.errors import AutosegError
from autoseg.evaluation.metrics import segmentation_metrics
from autoseg.io import atomic_write, read_image


def evaluate_case(prediction: Path, reference: Path, spec, task) -> dict[str, dict[str, float]]:
    """Returns {structure: metrics} for one case; distances use the reference's spacing (mm)."""
    predicted, expected = read_image(prediction), read_image(reference)
    if predicted.spatial_shape != expected.spatial_shape:
        raise AutosegError(f"{prediction} has shape {predicted.spatial_shape} but its reference {reference} has {expected.spatial_shape}; predict in the reference's geometry.")
    predicted_masks = task.evaluation_masks(predicted.array[0], spec)
    reference_masks = task.evaluation_masks(expected.array[0], spec)
    return {name: segmentation_metrics(predicted_masks[name], reference_masks[name], expected.geometry.spacing) for name in reference_masks}


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
