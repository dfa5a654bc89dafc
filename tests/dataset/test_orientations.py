"""`classes` and `targets` in dataset.json may be written either way round (index to name, as `channel_names`;
name to index, as `labels`): both plan, train, predict and evaluate identically."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from autoseg.cli import main
from autoseg.dataset import RawDataset
from autoseg.io import read_image
from autoseg.training import train_fold, trainer_settings
from autoseg.workflows.prediction import load_trained_model, predict_folder
from tests.conftest import preprocess_with_tiny_network
from tests.training.test_classification import make_dataset


def run(root, raw, configuration: str, references):
    """Plans, preprocesses, trains one tiny fold, predicts the test cases and evaluates them."""
    dataset = RawDataset(raw)
    preprocessed = preprocess_with_tiny_network(dataset, root / "preprocessed" / dataset.name, configuration)
    settings = replace(trainer_settings("short"), epochs=1, iterations_per_epoch=2, validation_iterations=1, num_workers=0)
    fold = train_fold(preprocessed, root / "results", configuration, fold="0", settings=settings, trainer="short")
    written = predict_folder(load_trained_model(fold.parent), dataset.root / "imagesTs", root / "out", mirroring=False)
    assert main(["evaluate", str(references(dataset)), str(root / "out"), "-np", "1"]) == 0
    plans = json.loads((preprocessed / "plans.json").read_text())
    return dataset, plans, written, json.loads((root / "out" / "summary.json").read_text())


def rewrite(raw, key: str, mapping: dict) -> None:
    data = json.loads((raw / "dataset.json").read_text())
    data[key] = mapping
    (raw / "dataset.json").write_text(json.dumps(data))


def test_classes_written_index_to_name_run_exactly_as_name_to_index(tmp_path):
    runs = []
    for orientation, classes in (("names", {"healthy": 0, "lesion": 1}), ("indices", {"0": "healthy", "1": "lesion"})):
        raw = make_dataset(tmp_path / orientation / "raw", cases=10, lesions=5, test=2).root
        rewrite(raw, "classes", classes)
        runs.append(run(tmp_path / orientation, raw, "2d", lambda dataset: dataset.root / "labelsTs.csv"))
    (first, first_plans, [first_table], first_summary), (second, second_plans, [second_table], second_summary) = runs
    assert first.spec.classes == second.spec.classes == {"healthy": 0, "lesion": 1}
    assert [c.class_index for c in first.cases("train")] == [c.class_index for c in second.cases("train")]
    assert first_plans["class_weights"] == second_plans["class_weights"]
    assert first_table.read_text() == second_table.read_text() and "probability_lesion" in first_table.read_text()
    assert first_summary == second_summary and first_summary["metrics"]["cases"] == 2


def test_targets_written_name_to_index_run_exactly_as_index_to_name(stand_in_cache, tmp_path):
    runs = []
    for orientation, targets in (("indices", {"0": "PET_standard_dose"}), ("names", {"PET_standard_dose": 0})):
        raw = tmp_path / orientation / "raw" / stand_in_cache("pet", 5, 1).name
        shutil.copytree(stand_in_cache("pet", 5, 1), raw)
        rewrite(raw, "targets", targets)
        runs.append(run(tmp_path / orientation, raw, "3d_fullres", lambda dataset: dataset.root / "labelsTs"))
    (first, first_plans, first_files, first_summary), (second, second_plans, second_files, second_summary) = runs
    assert first.spec.targets == second.spec.targets == {0: "PET_standard_dose"}
    assert first_plans["target_normalisation"] == second_plans["target_normalisation"] and first_plans["input_skips"]
    assert first_plans["input_skips"] == second_plans["input_skips"]
    np.testing.assert_array_equal(read_image(first_files[0]).array, read_image(second_files[0]).array)
    assert first_summary == second_summary and first_summary["mean"]["PET_standard_dose"]["psnr"] > 0


def test_an_ambiguous_classes_map_is_refused_by_verify_naming_why(tmp_path, capsys):
    raw = make_dataset(tmp_path / "raw", cases=4, lesions=2, test=0).root
    rewrite(raw, "classes", {"0": 1, "1": 0})
    assert main(["verify", "-d", str(raw)]) == 1
    assert "'classes' is ambiguous: class name(s) ['0', '1'] are numbers other than their own indices" in capsys.readouterr().out


@pytest.mark.parametrize("classes", [{"0": "CN", "1": "AD"}, {"CN": 0, "AD": 1}])
def test_the_dataset_json_written_beside_predictions_reads_back_the_same(classes):
    from autoseg.dataset import DatasetSpec

    base = {"channel_names": {"0": "PET"}, "task": "classification", "numTraining": 2, "file_ending": ".nii.gz", "classes": classes}
    spec = DatasetSpec.from_json(base)
    assert spec.classes == {"CN": 0, "AD": 1} and DatasetSpec.from_json(spec.to_json()) == spec
