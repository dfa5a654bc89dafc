"""find_best_configuration, ensemble and evaluate for regression, on hand-built predictions with known answers."""

import json
import shlex

import numpy as np
import pytest

from autoseg.cli import main
from autoseg.dataset import DatasetSpec
from autoseg.errors import AutosegError
from autoseg.evaluation import summarise, write_summary
from autoseg.evaluation.image_metrics import image_metrics
from autoseg.io import Geometry, ImageData, read_image, write_image
from autoseg.tasks import task_for
from autoseg.workflows.best_configuration import find_best_configuration
from autoseg.workflows.evaluation import evaluate_folders

GEOMETRY = Geometry((3.0, 2.0, 2.0), (1.0, 2.0, 3.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
ONE_TARGET = {
    "channel_names": {"0": "PET", "1": "T1"},
    "task": "regression",
    "targets": {"0": "PET_standard_dose"},
    "numTraining": 4,
    "file_ending": ".nii.gz",
}


def write(path, array):
    write_image(ImageData(array[None].astype(np.float32), GEOMETRY), path)


def standard_dose(case: int) -> np.ndarray:
    """A warm ellipsoid with a hot spot, shifted per case."""
    z, y, x = np.mgrid[:8, :14, :12]
    body = ((z - 4) / 3.5) ** 2 + ((y - 7) / 5.5) ** 2 + ((x - 6) / 4.5) ** 2 < 1
    image = 4.0 * body
    image[3:5, 5 + case % 3 : 8 + case % 3, 4:7] = 12.0
    return image


def errors(case: int) -> np.ndarray:
    return np.random.default_rng(case).normal(0, 1.0, (8, 14, 12)) * (standard_dose(case) > 0)


def build_results(root, cases=4, folds=("0", "1")):
    """Two 'configurations' whose errors are equal and opposite, plus a bias: their average is the truth plus the bias."""
    results = root / "results" / "Dataset043_Pet"
    references = root / "gt"
    spec = DatasetSpec.from_json(ONE_TARGET)
    task = task_for(spec)
    for case in range(cases):
        write(references / f"case_{case}.nii.gz", standard_dose(case))
    for name, sign in (("2d", 1.0), ("3d_fullres", -1.0)):
        model = results / f"default__plans__{name}"
        model.mkdir(parents=True)
        (model / "dataset.json").write_text(json.dumps(ONE_TARGET))
        for fold in folds:
            validation = model / f"fold_{fold}" / "validation"
            per_case = {}
            for case in range(int(fold), cases, len(folds)):
                write(validation / f"case_{case}.nii.gz", standard_dose(case) + sign * errors(case) + 0.1)
                per_case[f"case_{case}"] = task.case_metrics([validation / f"case_{case}.nii.gz"], [references / f"case_{case}.nii.gz"])
            write_summary(validation / "summary.json", summarise(per_case))
    return results, references


def test_find_best_for_regression_ranks_by_psnr_ensembles_images_and_adds_no_postprocessing(tmp_path):
    results, references = build_results(tmp_path)
    chosen = find_best_configuration(results, references, folds=("0", "1"), num_processes=1, say=lambda message: None)
    ensemble = "default__plans__2d+default__plans__3d_fullres"
    assert chosen["metric"] == "psnr" and chosen["best"] == ensemble
    scores = {name: c["score"] for name, c in chosen["candidates"].items()}
    assert scores[ensemble] > max(scores["default__plans__2d"], scores["default__plans__3d_fullres"])
    # The ensemble's out-of-fold images are the means of the two configurations' (truth + 0.1), scored by hand.
    averaged = read_image(results / "ensembles" / ensemble / "crossval_results_folds_0_1" / "case_2.nii.gz")
    np.testing.assert_allclose(averaged.array[0], standard_dose(2) + 0.1, atol=1e-5)
    assert averaged.geometry == GEOMETRY
    expected = np.mean([image_metrics(standard_dose(c) + 0.1, standard_dose(c))["psnr"] for c in range(4)])
    assert scores[ensemble] == pytest.approx(expected, rel=1e-5)
    assert "postprocessing" not in chosen and not (results / "postprocessing.json").exists()

    commands = [
        shlex.split(line) for line in (results / "inference_instructions.txt").read_text().splitlines() if line.startswith("autoseg")
    ]
    assert [c[1] for c in commands] == ["predict", "predict", "ensemble"]
    assert not any("--save_probabilities" in c for c in commands) and commands[-1][commands[-1].index("-o") + 1] == "OUTPUT_FOLDER"


def test_autoseg_ensemble_averages_regression_images(tmp_path):
    for folder, offset in (("a", 1.0), ("b", 3.0)):
        write(tmp_path / folder / "case_0.nii.gz", standard_dose(0) + offset)
        (tmp_path / folder / "dataset.json").write_text(json.dumps(ONE_TARGET))
    assert main(["ensemble", "-i", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(tmp_path / "mean")]) == 0
    mean = read_image(tmp_path / "mean" / "case_0.nii.gz")
    np.testing.assert_allclose(mean.array[0], standard_dose(0) + 2.0)
    assert mean.geometry == GEOMETRY
    (tmp_path / "b" / "case_0.nii.gz").unlink()
    assert main(["ensemble", "-i", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(tmp_path / "again")]) == 2


def test_evaluate_scores_every_target_and_the_baseline_channels_dataset_json_names(tmp_path):
    dataset = ONE_TARGET | {"targets": {"0": "PET_standard_dose", "1": "T1_denoised"}, "baseline_channels": {"0": 0}}
    truth = {0: standard_dose(0), 1: standard_dose(1)}
    low_dose = truth[0] + errors(0)
    for target, image in truth.items():
        write(tmp_path / "ref" / f"case_0_{target:04d}.nii.gz", image)
        write(tmp_path / "pred" / f"case_0_{target:04d}.nii.gz", image + 0.5 * errors(target))
    write(tmp_path / "inputs" / "case_0_0000.nii.gz", low_dose)
    write(tmp_path / "inputs" / "case_0_0001.nii.gz", truth[1] * 2)
    (tmp_path / "pred" / "dataset.json").write_text(json.dumps(dataset))
    summary = evaluate_folders(tmp_path / "ref", tmp_path / "pred", num_processes=1, baseline_dir=tmp_path / "inputs")
    for target, name in dataset["targets"].items():
        expected = image_metrics(truth[int(target)] + 0.5 * errors(int(target)), truth[int(target)])
        assert summary["cases"]["case_0"][name] == pytest.approx(expected)
    # Only target 0 has a baseline input: the low-dose PET, scored by hand.
    assert summary["baseline"]["cases"]["case_0"] == {"PET_standard_dose": pytest.approx(image_metrics(low_dose, truth[0]))}
    with pytest.raises(AutosegError, match="baseline_channels"):
        evaluate_folders(tmp_path / "ref", tmp_path / "pred", num_processes=1, baseline_dir=tmp_path / "inputs", baseline_channel=1)
    (tmp_path / "pred" / "case_0_0001.nii.gz").unlink()
    with pytest.raises(AutosegError, match="lacks predictions for 1 reference case"):
        evaluate_folders(tmp_path / "ref", tmp_path / "pred", num_processes=1)
