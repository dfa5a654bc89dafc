"""Regression end to end on the tiny low-dose PET stand-in: units restored, validation metrics, predict."""

import json
import re
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from autoseg.dataset import DatasetSpec
from autoseg.evaluation.image_metrics import image_metrics
from autoseg.inference.export import restore_regression
from autoseg.io import Geometry, read_image
from autoseg.plans import ChannelNormalisation
from autoseg.preprocessing.pipeline import CaseProperties
from autoseg.tasks import task_for
from autoseg.training import train_fold, trainer_settings
from autoseg.workflows.best_configuration import find_best_configuration
from autoseg.workflows.evaluation import evaluate_folders
from autoseg.workflows.prediction import load_trained_model, predict_folder
from tests.inference.configurations import export_configuration

REGRESSION = {"channel_names": {"0": "PET"}, "task": "regression", "targets": {"0": "SD"}, "numTraining": 1, "file_ending": ".nii.gz"}


@pytest.mark.parametrize(
    "scheme, parameters, expected", [("scale", {"mean": 3.0, "std": 1.0}, 6.0), ("zscore_dataset", {"mean": -5.0, "std": 4.0}, 3.0)]
)
def test_a_constant_output_is_exported_as_its_constant_in_the_original_units(tmp_path, scheme, parameters, expected):
    case = CaseProperties(
        "case", Geometry.identity((2.0, 1.0, 1.0)).to_json(), [8, 12, 10], [[1, 7], [2, 10], [0, 10]], [6, 8, 10], [2.0, 1.0, 1.0]
    )
    configuration = export_configuration([3.0, 1.5, 1.5])
    outputs = torch.full((1, 4, 5, 7), 2.0)  # 2 in normalised units, on a coarser grid
    plans = SimpleNamespace(target_normalisation={"0": ChannelNormalisation(scheme, False, parameters)})
    task = task_for(DatasetSpec.from_json(REGRESSION))
    task.case_writer(tmp_path, plans=plans, configuration=configuration).write("case", outputs, case)
    image = read_image(tmp_path / "case.nii.gz").array[0]
    inside = image[1:7, 2:10, 0:10]
    np.testing.assert_allclose(inside, expected, rtol=1e-6)
    assert image.sum() == pytest.approx(inside.sum())  # 0 outside the crop box
    written = read_image(tmp_path / "case.nii.gz")
    assert written.geometry == Geometry.identity((2.0, 1.0, 1.0)) and written.array.dtype == np.float32


def test_negative_outputs_of_a_non_negative_target_are_clipped(tmp_path):
    case = CaseProperties("case", Geometry.identity((1.0, 1.0)).to_json(), [4, 4], [[0, 4], [0, 4]], [4, 4], [1.0, 1.0])
    outputs = torch.tensor([[[-1.0, 1.0, 2.0, -3.0]] * 4])
    (image,) = restore_regression(
        outputs, case, export_configuration([1.0, 1.0]), {"0": ChannelNormalisation("scale", False, {"mean": 2.0})}
    )
    np.testing.assert_allclose(image[0], [0.0, 2.0, 4.0, 0.0])


def test_the_low_dose_input_is_planned_as_a_skip_into_the_target_units(pet_tiny):
    dataset, preprocessed = pet_tiny
    plans = json.loads((preprocessed / "plans.json").read_text())
    # PET input x = I / m_in and target t = T / m_t, so the skip carries x onto the target's units: m_in / m_t.
    expected = plans["normalisation"]["0"]["parameters"]["mean"] / plans["target_normalisation"]["0"]["parameters"]["mean"]
    assert plans["input_skips"] == {"0": {"input_channel": 0, "scale": pytest.approx(expected), "shift": 0.0}}


def test_regression_training_from_scratch_lowers_the_validation_loss(pet_tiny, tmp_path):
    dataset, preprocessed = pet_tiny
    plans = json.loads((preprocessed / "plans.json").read_text())
    plans["input_skips"] = {}  # learn the whole mapping, not a correction of the input
    (preprocessed / "plans_no_skip.json").write_text(json.dumps(plans))
    settings = replace(trainer_settings("short"), epochs=6, iterations_per_epoch=4, validation_iterations=2, num_workers=0)
    fold = train_fold(
        preprocessed, tmp_path / "results", "3d_fullres", fold="1", plans_file="plans_no_skip.json", settings=settings, trainer="short"
    )
    validation_losses = [float(value) for value in re.findall(r"val loss ([0-9.]+)", (fold / "training_log.txt").read_text())]
    assert len(validation_losses) == 6 and validation_losses[-1] < 0.85 * validation_losses[0]


def test_regression_validates_and_predicts_in_the_inputs_geometry_and_units(pet_tiny, tmp_path):
    dataset, preprocessed = pet_tiny
    settings = replace(trainer_settings("short"), epochs=1, iterations_per_epoch=2, validation_iterations=1, num_workers=0)
    fold = train_fold(preprocessed, tmp_path / "results", "3d_fullres", fold="0", settings=settings, trainer="short")
    summary = json.loads((fold / "validation" / "summary.json").read_text())
    target = next(iter(dataset.spec.targets.values()))
    assert set(summary["mean"][target]) == {"mae", "nrmse", "psnr", "ssim"}
    # Beside the model, the low-dose input itself (the identity baseline), scored by hand from the raw files.
    for case_id, scores in summary["baseline"]["cases"].items():
        low_dose, standard = (
            read_image(dataset.root / "imagesTr" / f"{case_id}_0000.nii.gz"),
            read_image(dataset.root / "labelsTr" / f"{case_id}.nii.gz"),
        )
        assert scores[target] == pytest.approx(image_metrics(low_dose.array[0], standard.array[0]))
    assert set(summary["baseline"]["cases"]) == set(summary["cases"])
    # The network starts out as the input skip (zeroed heads): two steps later it is still about the input.
    assert summary["mean"][target]["psnr"] == pytest.approx(summary["baseline"]["mean"][target]["psnr"], abs=0.5)

    chosen = find_best_configuration(
        fold.parent.parent, preprocessed / "gt", trainers=("short",), folds=("0",), num_processes=1, say=lambda message: None
    )
    assert chosen["best"] == fold.parent.name and chosen["baseline_score"] == pytest.approx(summary["baseline"]["mean"][target]["psnr"])

    written = predict_folder(load_trained_model(fold.parent), dataset.root / "imagesTs", tmp_path / "out", mirroring=False)
    (case,) = sorted((dataset.root / "imagesTs").glob("*_0000.nii.gz"))
    source = read_image(case)
    (prediction,) = [read_image(path) for path in written]
    assert prediction.geometry == source.geometry and prediction.spatial_shape == source.spatial_shape
    assert prediction.array.dtype == np.float32 and prediction.array.min() >= 0
    reference = read_image(dataset.root / "labelsTs" / written[0].name)
    assert 0.1 < prediction.array.mean() / reference.array.mean() < 10  # the target's units, not the normalised ones

    summary = evaluate_folders(dataset.root / "labelsTs", tmp_path / "out", num_processes=1, baseline_dir=dataset.root / "imagesTs")
    assert summary["cases"][case.name.replace("_0000.nii.gz", "")][target]["psnr"] == summary["mean"][target]["psnr"] > 0
    # The low-dose input scored against the standard dose, by hand.
    expected = image_metrics(source.array[0], reference.array[0])
    assert summary["baseline"]["mean"][target]["psnr"] == pytest.approx(expected["psnr"]) and summary["baseline"]["mean"][target][
        "ssim"
    ] == pytest.approx(expected["ssim"])
