"""Metrics on hand-built cases with known answers."""

import math

import numpy as np
import pytest

from autoseg.evaluation import segmentation_metrics


def sphere(shape, centre_mm, radius_mm, spacing):
    grids = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij")
    return sum((g - c) ** 2 for g, c in zip(grids, centre_mm)) <= radius_mm**2


def test_overlap_metrics_on_counted_voxels():
    reference = np.zeros((4, 5), bool)
    reference[0, :4] = True  # 4 voxels
    prediction = np.zeros((4, 5), bool)
    prediction[0, 2:5] = True  # 3 voxels, 2 overlapping
    m = segmentation_metrics(prediction, reference, (1.0, 1.0))
    assert m["dice"] == pytest.approx(4 / 7) and m["iou"] == pytest.approx(2 / 5)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 4)


def test_identical_masks_are_perfect():
    mask = sphere((20, 20, 20), (10, 10, 10), 6, (1, 1, 1))
    m = segmentation_metrics(mask, mask, (1.0, 1.0, 1.0))
    assert m["dice"] == 1 and m["hd95"] == 0 and m["assd"] == 0


def test_concentric_spheres_are_the_radius_difference_apart_in_millimetres():
    spacing = (2.0, 1.0, 1.0)  # anisotropic: distances must be in mm, not voxels
    shape = (30, 60, 60)
    inner = sphere(shape, (30, 30, 30), 10, spacing)
    outer = sphere(shape, (30, 30, 30), 16, spacing)
    m = segmentation_metrics(inner, outer, spacing)
    assert m["assd"] == pytest.approx(6, abs=1.0)
    assert m["hd95"] == pytest.approx(6, abs=1.5)


def test_spheres_offset_by_a_known_distance():
    spacing = (1.0, 1.0, 1.0)
    shape = (40, 40, 60)
    d, r = 12.0, 5.0
    a = sphere(shape, (20, 20, 20), r, spacing)
    b = sphere(shape, (20, 20, 20 + d), r, spacing)  # 12 mm apart: not touching
    m = segmentation_metrics(a, b, spacing)
    assert m["dice"] == 0
    # A point at polar angle t on one sphere is sqrt(d^2 + r^2 - 2 d r cos t) - r from the other's surface.
    # Uniform over the sphere (cos t uniform): mean ((d+r)^3 - (d-r)^3) / (6 d r) - r; 95th percentile at cos t = -0.9.
    mean = ((d + r) ** 3 - (d - r) ** 3) / (6 * d * r) - r
    p95 = np.sqrt(d**2 + r**2 + 0.9 * 2 * d * r) - r
    assert m["assd"] == pytest.approx(mean, abs=1.0)
    assert m["hd95"] == pytest.approx(p95, abs=1.0)


def test_empty_conventions():
    empty = np.zeros((5, 5), bool)
    blob = np.zeros((5, 5), bool)
    blob[1:3, 1:3] = True
    both = segmentation_metrics(empty, empty, (1.0, 2.0))
    assert all(math.isnan(both[k]) for k in ("dice", "iou", "precision", "recall", "hd95", "assd"))
    invented = segmentation_metrics(blob, empty, (1.0, 2.0))
    assert invented["dice"] == 0 and invented["precision"] == 0 and math.isnan(invented["recall"])
    assert invented["hd95"] == pytest.approx(math.hypot(5 * 1.0, 5 * 2.0))
    missed = segmentation_metrics(empty, blob, (1.0, 2.0))
    assert missed["dice"] == 0 and missed["recall"] == 0 and math.isnan(missed["precision"])


def brute_force_directed(source: np.ndarray, target: np.ndarray, spacing) -> np.ndarray:
    """Each surface voxel of ``source``: its Euclidean distance (mm) to the nearest surface voxel of ``target``."""
    from autoseg.evaluation.metrics import surface

    points = np.argwhere(surface(source)) * np.asarray(spacing)
    others = np.argwhere(surface(target)) * np.asarray(spacing)
    return np.sqrt(((points[:, None, :] - others[None, :, :]) ** 2).sum(-1)).min(1)


def test_assd_and_hd95_pool_both_directions_on_unequal_surfaces_with_anisotropic_spacing():
    spacing = (2.0, 0.5)
    reference = np.zeros((12, 40), bool)
    reference[2:10, 4:36] = True  # a large surface
    prediction = np.zeros((12, 40), bool)
    prediction[4:7, 10:16] = True  # a small one inside it: the two directions have very different counts
    forward = brute_force_directed(prediction, reference, spacing)
    backward = brute_force_directed(reference, prediction, spacing)
    assert len(backward) > 4 * len(forward)
    m = segmentation_metrics(prediction, reference, spacing)
    pooled = np.concatenate([forward, backward])
    assert m["assd"] == pytest.approx(pooled.mean(), rel=1e-6)
    assert m["hd95"] == pytest.approx(np.percentile(pooled, 95), rel=1e-6)
    # the old convention, the mean of the two directional means, reads differently here
    assert abs((forward.mean() + backward.mean()) / 2 - m["assd"]) > 0.1 * m["assd"]
