"""--save_uncertainty: predictive entropy and mutual information against hand-computed probabilities, the spread
across folds for regression and classification, and maps written in the input's geometry with uncertainty.csv."""

import csv
import math
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

import autoseg
from autoseg.dataset import DatasetSpec, RawDataset
from autoseg.errors import AutosegError
from autoseg.io import Geometry, read_image
from autoseg.plans import ChannelNormalisation
from autoseg.preprocessing.pipeline import CaseProperties
from autoseg.tasks import task_for
from autoseg.tasks.base import CaseResult
from autoseg.training import train_fold, trainer_settings
from tests.conftest import preprocess_with_tiny_network
from tests.inference.configurations import export_configuration
from tests.training.test_classification import make_dataset

SEGMENTATION = {
    "channel_names": {"0": "MR"},
    "labels": {"background": 0, "a": 1, "b": 2},
    "numTraining": 1,
    "file_ending": ".nii.gz",
}


def whole_grid(shape) -> tuple[CaseProperties, object]:
    """Properties that restore onto the same grid (no crop, no resampling), and a configuration of that spacing."""
    geometry, box = Geometry.identity((1.0,) * len(shape)).to_json(), [[0, s] for s in shape]
    properties = CaseProperties("case", geometry, list(shape), box, list(shape), [1.0] * len(shape))
    return properties, export_configuration([1.0] * len(shape))


def entropy(p) -> float:
    return -sum(v * math.log(v) for v in p if v > 0)


def test_entropy_and_mutual_information_match_hand_computed_probabilities():
    task = task_for(DatasetSpec.from_json(SEGMENTATION))
    first, second = [0.7, 0.2, 0.1], [0.1, 0.2, 0.7]  # voxel 0: the folds disagree; voxel 1: both [0.8, 0.1, 0.1]
    agree = [0.8, 0.1, 0.1]
    logits = [torch.tensor(np.log(np.array([fold, agree]).T).reshape(3, 1, 2), dtype=torch.float32) for fold in (first, second)]
    properties, configuration = whole_grid((1, 2))
    maps = task.uncertainty_maps(logits, properties, configuration, None)
    mean = [(a + b) / 2 for a, b in zip(first, second)]
    expected_entropy = [entropy(mean), entropy(agree)]
    expected_information = [entropy(mean) - (entropy(first) + entropy(second)) / 2, 0.0]
    np.testing.assert_allclose(maps["entropy"][0][0], expected_entropy, rtol=1e-5)
    np.testing.assert_allclose(maps["mutual_information"][0][0], expected_information, rtol=1e-4, atol=1e-6)
    assert maps["mutual_information"][0][0, 0] > 0.2  # disagreeing folds: information between them
    # one fold: the entropy only
    assert set(task.uncertainty_maps(logits[:1], properties, configuration, None)) == {"entropy"}


def test_regions_sum_the_binary_entropy_of_each_region():
    spec = {**SEGMENTATION, "labels": {"background": 0, "whole": [1, 2], "core": [2]}, "regions_class_order": [1, 2]}
    task = task_for(DatasetSpec.from_json(spec))
    p = torch.tensor([0.9, 0.5])  # two region probabilities at one voxel
    logits = torch.log(p / (1 - p)).view(2, 1, 1)
    properties, configuration = whole_grid((1, 1))
    [image] = task.uncertainty_maps([logits], properties, configuration, None)["entropy"]
    binary = lambda q: -q * math.log(q) - (1 - q) * math.log(1 - q)  # noqa: E731
    assert image[0, 0] == pytest.approx(binary(0.9) + binary(0.5), rel=1e-5)


def test_regression_std_is_the_spread_of_the_folds_in_the_targets_units():
    regression = {"channel_names": {"0": "PET"}, "task": "regression", "targets": {"0": "SD"}, "numTraining": 1, "file_ending": ".nii.gz"}
    spec = DatasetSpec.from_json(regression)
    task = task_for(spec)
    plans = type("Plans", (), {"target_normalisation": {"0": ChannelNormalisation("scale", False, {"mean": 4.0})}})
    properties, configuration = whole_grid((2, 3))
    folds = [torch.full((1, 2, 3), 1.0), torch.full((1, 2, 3), 2.0)]  # 4 and 8 in the target's units
    [std] = task.uncertainty_maps(folds, properties, configuration, plans)["std"]
    np.testing.assert_allclose(std, 2.0)
    scores = task.uncertainty_scores({"std": [std]}, CaseResult([np.full((2, 3), 6.0, np.float32)]))
    assert scores == {"SD": pytest.approx(2.0)}


def test_scores_are_the_mean_entropy_inside_each_predicted_structure_and_its_border():
    task = task_for(DatasetSpec.from_json(SEGMENTATION))
    labels = np.zeros((1, 7), np.uint8)
    labels[0, 3] = 1
    entropy_map = np.arange(7, dtype=np.float32)[None]
    scores = task.uncertainty_scores({"entropy": [entropy_map]}, CaseResult([labels]))
    assert scores["a"] == pytest.approx((2 + 3 + 4) / 3) and math.isnan(scores["b"])


@pytest.fixture(scope="module")
def two_folds(stand_in_cache, tmp_path_factory):
    root = tmp_path_factory.mktemp("uncertainty")
    dataset = RawDataset(stand_in_cache("spine", 5, 2))
    preprocessed = preprocess_with_tiny_network(dataset, root / "preprocessed" / dataset.name, "2d")
    settings = replace(trainer_settings("short"), epochs=1, iterations_per_epoch=3, validation_iterations=1, num_workers=0)
    for fold in ("0", "1"):
        folder = train_fold(preprocessed, root / "results", "2d", fold=fold, settings=settings, trainer="short").parent
    return folder, dataset


def test_maps_are_written_in_the_inputs_geometry_with_one_score_per_case_and_structure(two_folds, tmp_path):
    folder, dataset = two_folds
    model = autoseg.load_model(folder, device="cpu")
    written = model.predict_folder(dataset.root / "imagesTs", tmp_path / "out", save_uncertainty=True)
    ending = dataset.spec.file_ending
    structures = [name for name, value in dataset.spec.labels.items() if value != 0]
    with (tmp_path / "out" / "uncertainty.csv").open() as handle:
        rows = {row["case_id"]: row for row in csv.DictReader(handle)}
    cases = dataset.cases("test")
    assert sorted(rows) == sorted(case.case_id for case in cases) and list(next(iter(rows.values())))[1:] == structures
    for case in cases:
        source = read_image(case.image_files[0])
        prediction = read_image(tmp_path / "out" / f"{case.case_id}{ending}")
        for name in ("entropy", "mutual_information"):
            image = read_image(tmp_path / "out" / "uncertainty" / name / f"{case.case_id}{ending}")
            assert image.spatial_shape == source.spatial_shape and image.geometry == source.geometry
            assert image.array.dtype == np.float32 and image.array.min() >= 0
        entropy_map = read_image(tmp_path / "out" / "uncertainty" / "entropy" / f"{case.case_id}{ending}").array[0]
        assert entropy_map.max() <= math.log(len(dataset.spec.labels)) + 1e-5 and entropy_map.max() > 0
        # labels are those of the folds' mean logits: the plain prediction's
        plain = model.predict([str(p) for p in case.image_files])
        assert (prediction.array[0] == plain).mean() > 0.999
    assert tmp_path / "out" / "uncertainty.csv" in written
    # resumed: the cases done keep their rows
    model.predict_folder(dataset.root / "imagesTs", tmp_path / "out", save_uncertainty=True, continue_prediction=True)
    with (tmp_path / "out" / "uncertainty.csv").open() as handle:
        assert sorted(row["case_id"] for row in csv.DictReader(handle)) == sorted(rows)


def test_a_spread_across_folds_needs_two_folds(stand_in_cache, pet_tiny, tmp_path):
    dataset, preprocessed = pet_tiny
    settings = replace(trainer_settings("short"), epochs=1, iterations_per_epoch=1, validation_iterations=1, num_workers=0)
    folder = train_fold(preprocessed, tmp_path / "results", "3d_fullres", fold="0", settings=settings, trainer="short").parent
    with pytest.raises(AutosegError, match="--save_uncertainty for regression measures the spread across folds: it needs 2"):
        autoseg.load_model(folder, device="cpu").predict_folder(dataset.root / "imagesTs", tmp_path / "out", save_uncertainty=True)


def test_classification_writes_each_classs_spread_across_folds_into_predictions_csv(tmp_path):
    dataset = make_dataset(tmp_path / "raw", cases=10, lesions=5, test=2)
    preprocessed = preprocess_with_tiny_network(dataset, tmp_path / "preprocessed" / dataset.name, "2d")
    settings = replace(trainer_settings("short"), epochs=1, iterations_per_epoch=2, validation_iterations=1, num_workers=0)
    for fold in ("0", "1"):
        folder = train_fold(preprocessed, tmp_path / "results", "2d", fold=fold, settings=settings, trainer="short").parent
    model = autoseg.load_model(folder, device="cpu")
    [table] = model.predict_folder(dataset.root / "imagesTs", tmp_path / "out", save_uncertainty=True)
    rows = list(csv.DictReader(table.open()))
    single = [autoseg.load_model(folder, folds=[fold], device="cpu") for fold in ("0", "1")]
    for row in rows:
        files = [str(p) for p in sorted(dataset.root.glob(f"imagesTs/{row['case_id']}_*"))]
        folds = [model.predict(files) for model in single]
        expected = np.std([[fold.probabilities[name] for name in ("healthy", "lesion")] for fold in folds], axis=0)
        np.testing.assert_allclose([float(row["spread_healthy"]), float(row["spread_lesion"])], expected, atol=2e-6)


def test_a_case_named_like_another_cases_map_keeps_its_own_prediction(two_folds, tmp_path):
    """Cases X and X_entropy: the maps lie in uncertainty/{map}/, so neither case's files overwrite the other's."""
    folder, dataset = two_folds
    source = dataset.cases("test")[0]
    inputs = tmp_path / "in"
    inputs.mkdir()
    ending = dataset.spec.file_ending
    for case_id in ("x", "x_entropy"):
        for index, path in enumerate(source.image_files):
            shutil.copy(path, inputs / f"{case_id}_{index:04d}{ending}")
    model = autoseg.load_model(folder, device="cpu")
    model.predict_folder(inputs, tmp_path / "out", save_uncertainty=True)
    prediction = read_image(tmp_path / "out" / f"x_entropy{ending}").array[0]
    assert np.issubdtype(prediction.dtype, np.integer)  # a label map, not x's entropy
    assert np.array_equal(prediction, read_image(tmp_path / "out" / f"x{ending}").array[0])
    for case_id in ("x", "x_entropy"):
        assert read_image(tmp_path / "out" / "uncertainty" / "entropy" / f"{case_id}{ending}").array.dtype == np.float32
