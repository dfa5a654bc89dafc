"""Normalised surface Dice: hand-computed cases with anisotropic spacing, values MONAI computes, conventions, the CLI."""

import json
import math

import numpy as np
import pytest
from scipy import ndimage

from autoseg.cli import main
from autoseg.errors import AutosegError
from autoseg.evaluation import normalised_surface_dice, nsd_tolerances, segmentation_metrics
from autoseg.io import Geometry, ImageData, write_image


def test_two_pixels_against_one_weigh_each_segment_by_its_length_in_mm():
    spacing = (4.0, 1.0)
    reference = np.zeros((5, 6), bool)
    reference[2, 2] = True
    prediction = reference.copy()
    prediction[2, 3] = True  # a domino along the fine axis
    # Elements sit at the centres of 2 x 2 pixel squares. A square with one pixel inside holds the segment between
    # two edge midpoints: hypot(4 / 2, 1 / 2) mm. The domino's two middle squares hold a segment along the fine
    # axis: 1 mm. Every element of the reference coincides with one of the prediction's (distance 0); the domino's
    # two far squares are 1 mm from the nearest, outside a 0.5 mm tolerance.
    corner, straight = math.hypot(2.0, 0.5), 1.0
    expected = (4 * corner + (2 * corner + 2 * straight)) / (4 * corner + (4 * corner + 2 * straight))
    assert normalised_surface_dice(prediction, reference, spacing, 0.5) == pytest.approx(expected, rel=1e-12)
    assert normalised_surface_dice(prediction, reference, spacing, 1.0) == pytest.approx(1.0)
    assert expected != pytest.approx(8 / 10, abs=0.01)  # counting elements instead of weighting them reads 0.8


def test_two_voxels_against_one_weigh_each_element_by_its_area_in_mm2():
    s0, s1, s2 = spacing = (2.0, 1.0, 3.0)
    reference = np.zeros((5, 5, 6), bool)
    reference[2, 2, 2] = True
    prediction = reference.copy()
    prediction[2, 2, 3] = True  # a pair along the coarsest axis
    # A cube with one corner inside holds the triangle of three edge midpoints; a cube with two corners along
    # axis 2 the rectangle of four, s2 long and half the 0-1 diagonal wide. The pair's four far cubes are s2 = 3 mm away.
    one_corner = math.sqrt((s1 * s2) ** 2 + (s0 * s2) ** 2 + (s0 * s1) ** 2) / 8
    two_corners = s2 * math.hypot(s0, s1) / 2
    expected = (8 * one_corner + 4 * one_corner + 4 * two_corners) / (8 * one_corner + 8 * one_corner + 4 * two_corners)
    assert normalised_surface_dice(prediction, reference, spacing, 2.9) == pytest.approx(expected, rel=1e-6)
    assert normalised_surface_dice(prediction, reference, spacing, 3.0) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "shape, sigma, spacing, tolerance, monai",
    [
        # MONAI 1.6.1 compute_surface_dice(use_subvoxels=True) on these masks (measured once; MONAI is not a dependency)
        ((40, 50), 3.0, (1.5, 0.7), 1.0, 0.38421621918678284),
        ((20, 24, 22), 2.5, (2.5, 0.8, 1.0), 1.5, 0.7025997042655945),
    ],
)
def test_agrees_with_monai_subvoxel_surface_dice_on_random_shapes(shape, sigma, spacing, tolerance, monai):
    rng = np.random.default_rng(7)
    if len(shape) == 3:  # the same generator state MONAI's masks were made from
        rng.random((40, 50)), rng.random((40, 50))
    a = ndimage.gaussian_filter(rng.random(shape), sigma) > 0.5
    b = ndimage.gaussian_filter(rng.random(shape), sigma) > 0.5
    assert normalised_surface_dice(a, b, spacing, tolerance) == pytest.approx(monai, abs=1e-4)


def test_empty_structures_and_bad_tolerances():
    empty, blob = np.zeros((6, 6), bool), np.zeros((6, 6), bool)
    blob[2:4, 2:4] = True
    assert math.isnan(normalised_surface_dice(empty, empty, (1, 1), 1.0))
    assert normalised_surface_dice(blob, empty, (1, 1), 1.0) == 0 == normalised_surface_dice(empty, blob, (1, 1), 1.0)
    assert segmentation_metrics(blob, blob, (1.0, 2.0))["nsd"] == 1.0
    with pytest.raises(ValueError, match="tolerance"):
        normalised_surface_dice(blob, blob, (1, 1), -1.0)
    structures = {"1": (1,), "2": (2,)}
    assert nsd_tolerances(structures) == {"1": 1.0, "2": 1.0}
    assert nsd_tolerances(structures, [2.0, 5.0]) == {"1": 2.0, "2": 5.0}
    with pytest.raises(AutosegError, match="3 values for 2 structures"):
        nsd_tolerances(structures, [1.0, 2.0, 3.0])


def test_evaluate_scores_nsd_at_a_tolerance_per_structure_and_records_it(tmp_path, capsys):
    geometry = Geometry((3.0, 1.0, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    reference = np.zeros((8, 12, 12), np.uint8)
    reference[2:6, 2:6, 2:6], reference[2:6, 7:11, 2:6] = 1, 2
    prediction = np.roll(reference, 1, axis=0)  # both structures 3 mm off along the coarse axis
    references, predictions = tmp_path / "ref", tmp_path / "pred"
    write_image(ImageData(reference[None], geometry), references / "case_0.nii.gz")
    write_image(ImageData(prediction[None], geometry), predictions / "case_0.nii.gz")
    spec = {"channel_names": {"0": "MR"}, "labels": {"background": 0, "a": 1, "b": 2}, "numTraining": 1, "file_ending": ".nii.gz"}
    (predictions / "dataset.json").write_text(json.dumps(spec))

    assert main(["evaluate", str(references), str(predictions), "-np", "1", "--nsd_tolerance", "1", "3"]) == 0
    summary = json.loads((predictions / "summary.json").read_text())
    assert summary["nsd_tolerance_mm"] == {"a": 1.0, "b": 3.0}
    a, b = summary["cases"]["case_0"]["a"]["nsd"], summary["cases"]["case_0"]["b"]["nsd"]
    assert b == 1.0 and 0 < a < 1  # within 3 mm everything matches; within 1 mm only the sides do
    assert "NSD at a 1 mm, b 3 mm" in capsys.readouterr().out

    assert main(["evaluate", str(references), str(predictions), "-np", "1", "--nsd_tolerance", "1", "2", "3"]) == 2
    assert "--nsd_tolerance: 3 values for 2 structures (a, b)" in capsys.readouterr().err
