"""Per-case and mean metrics of predicted label files against references (summary.json)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from autoseg.dataset.checks import label_value_problems
from autoseg.errors import AutosegError
from autoseg.evaluation.metrics import DEFAULT_NSD_TOLERANCE_MM, segmentation_metrics
from autoseg.io import ImageData, atomic_write, read_image

Structures = dict[str, tuple[int, ...]]  # structure name -> the label values it covers (one for a label, several for a region)
Tolerances = dict[str, float]  # structure name -> the surface Dice tolerance (mm)


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


def nsd_tolerances(structures: Structures, given: float | list[float] | Tolerances | None = None) -> Tolerances:
    """{structure: NSD tolerance in mm}: ``given`` as one value for every structure, one per structure in their
    order (``--nsd_tolerance``), or by name; None: the default, 1 mm."""
    if given is None:
        given = DEFAULT_NSD_TOLERANCE_MM
    if isinstance(given, dict):
        tolerances = {name: float(given[name]) for name in structures if name in given}
        missing = [name for name in structures if name not in given]
        if missing:
            raise AutosegError(f"no surface Dice tolerance given for {', '.join(missing)}; give one for every structure scored.")
    elif isinstance(given, (int, float)):
        tolerances = dict.fromkeys(structures, float(given))
    elif len(given) == 1:
        tolerances = dict.fromkeys(structures, float(given[0]))
    elif len(given) == len(structures):
        tolerances = {name: float(value) for name, value in zip(structures, given)}
    else:
        raise AutosegError(
            f"--nsd_tolerance: {len(given)} values for {len(structures)} structures ({', '.join(structures)}); give one value "
            "for all, or one per structure in this order."
        )
    bad = {name: value for name, value in tolerances.items() if not math.isfinite(value) or value < 0}
    if bad:
        raise AutosegError(f"--nsd_tolerance: {bad} is not a distance in mm; give values >= 0.")
    return tolerances


def structure_masks(label_map: np.ndarray, structures: Structures) -> dict[str, np.ndarray]:
    return {name: np.isin(label_map, values) for name, values in structures.items()}


def annotated_only(predicted: np.ndarray, expected: np.ndarray, ignore_label: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Both label maps with the voxels the reference leaves unannotated (``ignore_label``) set to background in
    both, so only annotated voxels count; unchanged without an ignore label."""
    if ignore_label is None:
        return predicted, expected
    unannotated = expected == ignore_label
    return np.where(unannotated, 0, predicted), np.where(unannotated, 0, expected)


def score_label_maps(
    predicted: np.ndarray,
    expected: np.ndarray,
    structures: Structures,
    *,
    spacing,
    tolerances: Tolerances | None = None,
    ignore_label: int | None = None,
) -> dict[str, dict[str, float]]:
    """Returns {structure: metrics} of two label maps of one grid (NSD at ``tolerances``, default 1 mm); with
    ``ignore_label``, of the voxels the reference annotates only."""
    tolerances = tolerances or nsd_tolerances(structures)
    predicted, expected = annotated_only(predicted, expected, ignore_label)
    predicted_masks, reference_masks = structure_masks(predicted, structures), structure_masks(expected, structures)
    return {name: segmentation_metrics(predicted_masks[name], reference_masks[name], spacing, tolerances[name]) for name in structures}


def read_pair(prediction: Path, reference: Path, *, check_geometry: bool = True) -> tuple[ImageData, ImageData]:
    """Reads one case's prediction and reference, refusing what cannot be scored: different shapes, a different
    spacing, origin or direction (unless ``check_geometry`` is False: the stored arrays are then compared voxel
    by voxel), and NaN or infinite values."""
    predicted, expected = read_image(prediction), read_image(reference)
    if predicted.spatial_shape != expected.spatial_shape:
        raise AutosegError(
            f"{prediction} has shape {predicted.spatial_shape} but its reference {reference} has {expected.spatial_shape}; "
            "predict in the reference's geometry."
        )
    differences = predicted.geometry.differences(expected.geometry) if check_geometry else []
    if differences:
        raise AutosegError(
            f"{prediction} is not on the grid of its reference {reference}: {'; '.join(differences)}. Write predictions in the "
            "reference's geometry (autoseg predict does), or pass --ignore_geometry to compare the stored arrays voxel by voxel."
        )
    for path, image in ((prediction, predicted), (reference, expected)):
        refuse_non_finite(image.array, path)
    return predicted, expected


def refuse_non_finite(array: np.ndarray, where) -> None:
    """A NaN or infinite value cannot be scored (it would drop the case from the means, or score infinitely well)."""
    if np.issubdtype(array.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise AutosegError(f"{where} holds {bad} NaN or infinite value(s); it cannot be scored. Replace them, or predict it again.")


def evaluate_case(
    prediction: Path,
    reference: Path,
    structures: Structures,
    *,
    declared: set[int] | None = None,
    check_geometry: bool = True,
    tolerances: Tolerances | None = None,
    ignore_label: int | None = None,
) -> dict[str, dict[str, float]]:
    """Returns {structure: metrics} for one case; distances use the reference's spacing (mm), NSD ``tolerances``
    (default 1 mm). Both label maps must hold integer values, and only the ``declared`` ones (dataset.json's
    labels) where given; the reference's ``ignore_label`` voxels are left out."""
    predicted, expected = read_pair(prediction, reference, check_geometry=check_geometry)
    for path, image in ((prediction, predicted), (reference, expected)):
        problems = label_value_problems(image, declared, str(path))
        if problems:
            raise AutosegError(f"{problems[0]}; it cannot be scored as a label map.")
    return score_label_maps(
        predicted.array[0],
        expected.array[0],
        structures,
        spacing=expected.geometry.spacing,
        tolerances=tolerances,
        ignore_label=ignore_label,
    )


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


def json_scores(value):
    """``value`` with its non-finite scores in standard JSON: NaN (nothing to score) as null, an infinite score
    (the PSNR of a perfect prediction) as the string "inf" or "-inf"; ``read_summary`` restores both."""
    if isinstance(value, dict):
        return {k: json_scores(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_scores(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def write_summary(path: Path, summary: dict) -> None:
    """Writes summary.json atomically, in standard JSON (see ``json_scores``)."""
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(json_scores(summary), indent=2) + "\n"))


def read_summary(path: Path) -> dict:
    """Reads a summary.json back: null (nothing to score) as NaN again, "inf" and "-inf" as infinite scores, so
    merged folds and means count a perfect case."""

    def restore(value):
        if isinstance(value, dict):
            return {k: restore(v) for k, v in value.items()}
        if isinstance(value, list):
            return [restore(v) for v in value]
        if value in ("inf", "-inf"):
            return math.inf if value == "inf" else -math.inf
        return math.nan if value is None else value

    return restore(json.loads(path.read_text()))
