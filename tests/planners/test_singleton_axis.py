"""2D images stored as 3D files with an axis of size 1 (brain MRI slices as 1 x 104 x 88 NIfTI): that axis is the
slice axis whatever its spacing, and a configuration whose patch is too thin for its network is refused."""

import json
from dataclasses import replace

import numpy as np
import pytest

from autoseg.dataset import RawDataset
from autoseg.errors import AutosegError
from autoseg.fingerprint import compute_fingerprint
from autoseg.io import Geometry, ImageData, read_image
from autoseg.plans import Plans
from autoseg.training import train_fold, trainer_settings
from autoseg.workflows.prediction import load_trained_model, predict_folder
from dataset_conversion.raw_writer import RawCase, write_raw_dataset
from planners.default import DEFAULT
from tests.conftest import preprocess_with_tiny_network


def slices(root, singleton_spacing: float, cases: int = 6, test: int = 1, task: str = "segmentation"):
    """Brain-like slices 1 x 52 x 44 at in-plane spacing 2 mm, each with a bright lesion (label 1)."""
    rng = np.random.default_rng(0)
    geometry = Geometry.identity((singleton_spacing, 2.0, 2.0))
    y, x = np.mgrid[:52, :44]

    def case(index: int) -> RawCase:
        head = ((y - 26) / 22) ** 2 + ((x - 22) / 18) ** 2 < 1
        cy, cx = rng.integers(18, 34), rng.integers(14, 30)
        lesion = (y - cy) ** 2 + (x - cx) ** 2 < 20
        image = np.where(head, 100.0, 0.0) + 5 * rng.standard_normal(head.shape) + 80 * lesion
        labels = [ImageData(lesion[None, None].astype(np.uint8), geometry)] if task == "segmentation" else []
        return RawCase(
            f"slice_{index:03d}",
            [ImageData(image[None, None].astype(np.float32), geometry)],
            labels,
            class_name=None if task == "segmentation" else ("lesion", "healthy")[index % 2],
            split="train" if index < cases else "test",
        )

    spec = {"channel_names": {"0": "T1"}, "file_ending": ".nii.gz"}
    spec |= {"labels": {"background": 0, "lesion": 1}} if task == "segmentation" else {"task": task, "classes": {"healthy": 0, "lesion": 1}}
    return RawDataset(write_raw_dataset(root, 960, "Slices", dataset_json=spec, cases=(case(i) for i in range(cases + test))))


@pytest.mark.parametrize("singleton_spacing", [1.0, 2.0, 6.0])  # finer than, equal to and coarser than in-plane
def test_the_singleton_axis_is_the_slice_axis_whatever_its_spacing(tmp_path, singleton_spacing):
    dataset = slices(tmp_path, singleton_spacing)
    plans = DEFAULT.plan(compute_fingerprint(dataset, num_processes=1), dataset.spec)
    assert list(plans.configurations) == ["2d"]  # no 3D network over one slice
    configuration = plans.configurations["2d"]
    assert configuration.slice_axis == 0 and configuration.spacing[1:] == [2.0, 2.0]
    assert configuration.patch_size[0] >= 52 and configuration.patch_size[1] >= 44 and configuration.architecture.num_stages >= 4
    assert configuration.mirror_axes == [0, 1]


def test_a_single_slice_is_never_resampled_along_its_singleton_axis(tmp_path):
    dataset = slices(tmp_path, 1.0)
    (tmp_path / "mixed").mkdir()
    # one case with another slice thickness: the target spacing is the median, but a single slice stays one slice
    first = dataset.cases("train")[0]
    image = read_image(first.image_files[0])
    assert image.spatial_shape == (1, 52, 44)
    fingerprint = compute_fingerprint(dataset, num_processes=1)
    assert (fingerprint.shapes_at(np.array([5.0, 2.0, 2.0]))[:, 0] == 1).all()


def test_2d_slices_stored_as_3d_train_and_predict_in_the_inputs_geometry(tmp_path):
    dataset = slices(tmp_path / "raw", 1.0)
    preprocessed = preprocess_with_tiny_network(dataset, tmp_path / "preprocessed" / dataset.name, "2d")
    settings = replace(trainer_settings("short"), epochs=1, iterations_per_epoch=2, validation_iterations=1, num_workers=0)
    fold = train_fold(preprocessed, tmp_path / "results", "2d", fold="0", settings=settings, trainer="short")
    [written] = predict_folder(load_trained_model(fold.parent), dataset.root / "imagesTs", tmp_path / "out")
    source = read_image(next((dataset.root / "imagesTs").iterdir()))
    prediction = read_image(written)
    assert prediction.spatial_shape == source.spatial_shape == (1, 52, 44) and prediction.geometry == source.geometry


def test_classification_of_2d_slices_stored_as_3d(tmp_path):
    dataset = slices(tmp_path / "raw", 3.0, cases=8, test=2, task="classification")
    preprocessed = preprocess_with_tiny_network(dataset, tmp_path / "preprocessed" / dataset.name, "2d")
    plans = json.loads((preprocessed / "plans.json").read_text())
    assert list(plans["configurations"]) == ["2d"] and plans["configurations"]["2d"]["slice_axis"] == 0
    settings = replace(trainer_settings("short"), epochs=1, iterations_per_epoch=2, validation_iterations=1, num_workers=0)
    fold = train_fold(preprocessed, tmp_path / "results", "2d", fold="0", settings=settings, trainer="short")
    [table] = predict_folder(load_trained_model(fold.parent), dataset.root / "imagesTs", tmp_path / "out")
    assert len(table.read_text().splitlines()) == 3


def test_a_configuration_whose_patch_is_thinner_than_8_voxels_along_a_convolved_axis_is_left_out_and_refused(tmp_path):
    dataset = slices(tmp_path, 2.0)
    fingerprint = compute_fingerprint(dataset, num_processes=1)
    # the same slices, but three of them per case at 2 mm: not singleton, and far too thin for a 3D network
    for case in fingerprint.cases:
        case.shape = [3, *case.shape[1:]]
        case.cropped_shape = [3, *case.cropped_shape[1:]]
    plans = DEFAULT.plan(fingerprint, dataset.spec)
    assert list(plans.configurations) == ["2d"] and plans.configurations["2d"].slice_axis == 0
    assert "its patch [3, " in plans.left_out["3d_fullres"] and "along axis 0" in plans.left_out["3d_fullres"]
    with pytest.raises(AutosegError, match=r"configuration '3d_fullres' was left out of the plans of .*: its patch \[3, "):
        plans.configuration("3d_fullres")
    # a hand-edited plans file with such a patch is refused when loaded
    path = tmp_path / "plans.json"
    plans.save(path)
    data = json.loads(path.read_text())
    data["configurations"]["2d"]["patch_size"] = [4, 48]
    path.write_text(json.dumps(data))
    with pytest.raises(AutosegError, match=r"configuration '2d': its patch \[4, 48\] has 4 voxels along axis 0"):
        Plans.load(path)
    # nothing left to plan: a clear error
    for case in fingerprint.cases:
        case.shape = [3, 3, case.shape[2]]
        case.cropped_shape = [3, 3, case.cropped_shape[2]]
    with pytest.raises(AutosegError, match="no configuration can be planned for Dataset960_Slices"):
        DEFAULT.plan(fingerprint, dataset.spec)
