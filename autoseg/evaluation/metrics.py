"""Segmentation metrics of one structure: overlap and surface distances (mm).

Inputs are boolean masks of equal shape (any dimensionality) and the voxel
spacing in the same axis order. Conventions for empty masks (reference R,
prediction P):

| case | Dice, IoU | precision | recall | HD95, ASSD | NSD |
|---|---|---|---|---|---|
| both empty | NaN | NaN | NaN | NaN | NaN |
| R empty, P not | 0 | 0 | NaN | image diagonal (mm) | 0 |
| P empty, R not | 0 | NaN | 0 | image diagonal (mm) | 0 |

NaN means "nothing to score" and is left out of means; the image diagonal is
the worst distance a prediction could have, so a missed or invented structure
is penalised in distance metrics as well as in overlap.

Surface distances: a structure's surface is its voxels with a face-neighbour
outside it; each surface voxel's distance (mm, Euclidean distance transform
with the spacing) to the other structure's surface is taken in both
directions. HD95 is the 95th percentile of the two directions' distances
pooled (as medpy); ASSD is the mean of the two directions' distances pooled,
each surface voxel counting once (the standard definition: MONAI since 0.9,
medpy since 0.5). Averaging the two directional means instead, as autoseg did
before, weighs the voxels of the smaller surface more and reads up to 17 %
lower on surfaces of unequal size.

NSD, the normalised surface Dice at a tolerance in mm, weighs surface elements
by their area instead (autoseg/evaluation/surface_dice.py).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from autoseg.evaluation.surface_dice import crop_to_both, normalised_surface_dice

METRICS = ("dice", "iou", "precision", "recall", "hd95", "assd", "nsd", "reference_voxels", "prediction_voxels")
DEFAULT_NSD_TOLERANCE_MM = 1.0


def surface(mask: np.ndarray) -> np.ndarray:
    """Returns the voxels of ``mask`` with at least one face-neighbour outside it (image borders count as outside)."""
    eroded = ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(mask.ndim, 1), border_value=0)
    return mask & ~eroded


def _directed_distances(source_surface: np.ndarray, target_surface: np.ndarray, spacing) -> np.ndarray:
    distance_to_target = ndimage.distance_transform_edt(~target_surface, sampling=spacing)
    return distance_to_target[source_surface]


def segmentation_metrics(
    prediction: np.ndarray, reference: np.ndarray, spacing, nsd_tolerance: float = DEFAULT_NSD_TOLERANCE_MM
) -> dict[str, float]:
    """Returns Dice, IoU, precision, recall, HD95 (mm), ASSD (mm), NSD at ``nsd_tolerance`` mm (2D and 3D masks)
    and voxel counts (conventions above)."""
    prediction, reference = prediction.astype(bool), reference.astype(bool)
    if prediction.shape != reference.shape:
        raise ValueError(f"prediction {prediction.shape} and reference {reference.shape} differ in shape")
    tp = int(np.count_nonzero(prediction & reference))
    fp = int(np.count_nonzero(prediction & ~reference))
    fn = int(np.count_nonzero(~prediction & reference))
    predicted, present = tp + fp, tp + fn
    nan = math.nan
    result = {
        "dice": 2 * tp / (predicted + present) if predicted + present else nan,
        "iou": tp / (tp + fp + fn) if tp + fp + fn else nan,
        "precision": tp / predicted if predicted else nan,
        "recall": tp / present if present else nan,
        "reference_voxels": present,
        "prediction_voxels": predicted,
    }
    if not predicted and not present:
        result["hd95"] = result["assd"] = nan
    elif not predicted or not present:
        result["hd95"] = result["assd"] = float(np.linalg.norm(np.array(prediction.shape) * np.asarray(spacing, dtype=float)))
    else:
        inside = crop_to_both(prediction, reference)  # the surfaces and their nearest points lie inside the box
        prediction_surface, reference_surface = surface(inside[0]), surface(inside[1])
        forward = _directed_distances(prediction_surface, reference_surface, spacing)
        backward = _directed_distances(reference_surface, prediction_surface, spacing)
        result["hd95"] = float(np.percentile(np.concatenate([forward, backward]), 95))
        result["assd"] = float(np.concatenate([forward, backward]).mean())
    if prediction.ndim in (2, 3):
        result["nsd"] = normalised_surface_dice(prediction, reference, spacing, nsd_tolerance)
    return result
