import csv

import numpy as np
import pytest
from scipy import ndimage

from autoseg.dataset import RawDataset, verify_dataset
from autoseg.errors import AutosegError
from autoseg.io import read_image
from dataset_conversion.synthetic import generate_stand_in, stand_ins


@pytest.mark.parametrize("key", [s.key for s in stand_ins()])
def test_each_stand_in_is_deterministic_and_seed_dependent(tmp_path, key):
    size = {"num_cases": 2, "num_test": 1, "zoom": 0.125 if key == "ct" else 1.0}  # CT at clinical size takes seconds a case
    first = generate_stand_in(key, tmp_path / "a", seed=3, **size)
    again = generate_stand_in(key, tmp_path / "b", seed=3, **size)
    other = generate_stand_in(key, tmp_path / "c", seed=4, **size)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    image = next(f for f in files if f.parts[0] == "imagesTr")
    np.testing.assert_array_equal(read_image(first / image).array, read_image(again / image).array)
    assert not np.array_equal(read_image(first / image).array, read_image(other / image).array)
    assert verify_dataset(first, num_processes=1).ok


def test_case_does_not_depend_on_case_count(tmp_path):
    few = generate_stand_in("spine", tmp_path / "few", num_cases=2, num_test=0)
    many = generate_stand_in("spine", tmp_path / "many", num_cases=5, num_test=0)
    path = "imagesTr/spine_001_0000.nii.gz"
    np.testing.assert_array_equal(read_image(few / path).array, read_image(many / path).array)


def test_spine_left_and_right_muscles_sit_on_their_sides(stand_in_cache):
    folder = stand_in_cache("spine")
    for path in sorted((folder / "labelsTr").iterdir()):
        label = read_image(path).array[0]
        left_x = ndimage.center_of_mass(label == 1)[1]
        right_x = ndimage.center_of_mass(label == 2)[1]
        assert left_x > label.shape[1] / 2 > right_x  # +x is the patient's left (LPS)
        assert set(np.unique(label)) == {0, 1, 2, 3}


def test_brats_stand_in_uses_nested_regions(stand_in_cache):
    dataset = RawDataset(stand_in_cache("brats"))
    assert dataset.spec.has_regions and dataset.spec.regions_class_order == (1, 2, 3)
    values = set()
    for case in dataset.cases():
        values |= set(np.unique(read_image(case.label_files[0]).array).tolist())
    assert values <= {0, 1, 2, 3} and {1, 3} <= values


def test_isles_stand_in_is_anisotropic_with_six_maps(stand_in_cache):
    dataset = RawDataset(stand_in_cache("isles"))
    assert dataset.spec.num_channels == 6
    spacing = read_image(dataset.cases()[0].image_files[0]).geometry.spacing
    assert max(spacing) / min(spacing) > 3


def test_ct_stand_in_is_int16_hounsfield_units_on_a_grid_each_case_draws(tmp_path):
    from dataset_conversion.synthetic.ct import LABELS

    dataset = RawDataset(generate_stand_in("ct", tmp_path, num_cases=3, num_test=0, zoom=0.125))
    grids = set()
    for case in dataset.cases():
        image, labels = read_image(case.image_files[0]), read_image(case.label_files[0]).array[0]
        assert image.array.dtype == np.int16 and image.spatial_shape[1:] == (64, 64)
        values = image.array[0]
        assert values.min() == -1024 and 30 < np.median(values[labels == 1]) < 90  # air outside; liver about 60 HU
        assert np.median(values[labels == 4]) > 200 and np.median(values[labels == 6]) < -50  # bone; fat
        assert {1, 2, 3, 4, 6} <= set(np.unique(labels).tolist()) <= set(LABELS.values())
        spacing = image.geometry.spacing
        assert 0.70 * 8 <= spacing[1] <= 0.90 * 8 and 150 * 2.0 <= spacing[0] * image.spatial_shape[0] <= 300 * 3.0 + 1
        grids.add((image.spatial_shape, spacing))
    assert len(grids) == 3  # slice counts and spacings differ between cases, as scanners and protocols do


def test_low_dose_pet_is_noisier_than_standard_dose_but_unbiased():
    from dataset_conversion.synthetic.pet import PSF_FWHM_MM, SPACING, acquire, activity_map
    from dataset_conversion.synthetic.registry import case_rng

    rng = case_rng(0, 0)
    activity, brain = activity_map(rng)
    # The expected image: activity through the scanner's PSF and the reconstruction's post-filter.
    truth = ndimage.gaussian_filter(ndimage.gaussian_filter(activity, [PSF_FWHM_MM / 2.355 / s for s in SPACING]), 0.7)
    inside = brain.brain
    errors = {}
    for dose in (0.05, 1.0):
        image = acquire(activity, dose, rng)
        assert abs(image[inside].mean() / truth[inside].mean() - 1) < 0.03  # counts rescaled: unbiased
        errors[dose] = np.sqrt(np.mean((image - truth)[inside] ** 2))
    # Poisson noise scales as 1/sqrt(dose): sqrt(20) = 4.5 times more at 5 % dose.
    assert 4.0 < errors[0.05] / errors[1.0] < 5.0


def test_ad_groups_overlap_but_differ(stand_in_cache):
    dataset = RawDataset(stand_in_cache("ad", cases=24, test=0))
    ventricle_fraction = {0: [], 1: []}
    for case in dataset.cases():
        t1 = read_image(case.image_files[1]).array[0]
        head = t1 > 0.1 * t1.max()
        dark_inside = ndimage.binary_erosion(head, iterations=3) & (t1 < 0.35 * np.percentile(t1[head], 90))
        ventricle_fraction[case.class_index].append(dark_inside.sum() / head.sum())
    assert np.mean(ventricle_fraction[1]) > np.mean(ventricle_fraction[0])
    assert min(ventricle_fraction[1]) < max(ventricle_fraction[0])  # not trivially separable


@pytest.mark.parametrize("key", ["ad", "tumour2d"])
def test_no_subject_spans_training_and_test(stand_in_cache, key):
    folder = stand_in_cache(key, cases=9, test=4)
    subjects = {}
    for split in ("labelsTr.csv", "labelsTs.csv"):
        with (folder / split).open() as handle:
            subjects[split] = {row["subject"] for row in csv.DictReader(handle)}
    assert subjects["labelsTr.csv"] and subjects["labelsTs.csv"]
    assert not subjects["labelsTr.csv"] & subjects["labelsTs.csv"]
    assert len(RawDataset(folder).cases()) == 9 and len(RawDataset(folder).cases("test")) == 4


def test_existing_dataset_is_not_replaced_without_overwrite(tmp_path):
    folder = generate_stand_in("spine", tmp_path, num_cases=1, num_test=0)
    marker = folder / "imagesTr" / "spine_000_0000.nii.gz"
    before = marker.read_bytes()
    with pytest.raises(AutosegError, match="--overwrite"):
        generate_stand_in("spine", tmp_path, num_cases=2, num_test=0)
    assert marker.read_bytes() == before
    with pytest.raises(AutosegError, match="already used by"):
        generate_stand_in("pet", tmp_path, dataset_id=901, num_cases=1, num_test=0)
    generate_stand_in("spine", tmp_path, num_cases=2, num_test=0, overwrite=True)
    assert len(list((folder / "labelsTr").iterdir())) == 2
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no staging leftovers


def test_failed_generation_leaves_nothing(tmp_path, monkeypatch):
    from dataset_conversion.synthetic import spine

    calls = {"n": 0}
    real = spine.spine_slice

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(spine, "spine_slice", failing)
    with pytest.raises(RuntimeError):
        generate_stand_in("spine", tmp_path, num_cases=3, num_test=0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("key", ["spine", "isles", "tumour2d"])
def test_zoom_refines_the_grid_over_the_same_field_of_view(tmp_path, key):
    base = RawDataset(generate_stand_in(key, tmp_path / "a", num_cases=1, num_test=0)).cases()[0]
    fine = RawDataset(generate_stand_in(key, tmp_path / "b", num_cases=1, num_test=0, zoom=1.5)).cases()[0]
    coarse_image, fine_image = read_image(base.image_files[0]), read_image(fine.image_files[0])
    ratio = np.array(fine_image.spatial_shape) / np.array(coarse_image.spatial_shape)
    assert np.all(ratio >= 1.4) or key == "tumour2d" and np.all(ratio[-2:] >= 1.4)
    if key != "tumour2d":  # PNG slices have no spacing
        coarse_fov = np.array(coarse_image.spatial_shape) * coarse_image.geometry.spacing
        fine_fov = np.array(fine_image.spatial_shape) * fine_image.geometry.spacing
        np.testing.assert_allclose(fine_fov, coarse_fov, rtol=0.01)
