"""Classification through the generic trainer, on a hand-made dataset with a planted, separable signal."""

import csv
import json
import re
from dataclasses import replace

import numpy as np
import pytest
import torch

from autoseg.cli import main
from autoseg.dataset import RawDataset
from autoseg.io import Geometry, ImageData
from autoseg.plans import Plans
from autoseg.tasks import task_for
from autoseg.training import train_fold, trainer_settings
from autoseg.workflows.prediction import load_trained_model, predict_folder
from dataset_conversion.raw_writer import RawCase, write_raw_dataset
from tests.conftest import preprocess_with_tiny_network

CLASSES = {"healthy": 0, "lesion": 1}


def make_dataset(root, cases=24, lesions=8, test=4, seed=0):
    """2D MR-like slices; 'lesion' cases hold a bright disc somewhere, 'healthy' ones none. Two slices per subject."""
    rng = np.random.default_rng(seed)
    geometry = Geometry.identity((1.0, 1.0))

    def image(lesion):
        y, x = np.mgrid[:40, :40]
        slice_ = 100 + 10 * rng.standard_normal((40, 40))
        slice_[(y - 20) ** 2 + (x - 20) ** 2 > 18**2] = 0
        if lesion:
            cy, cx = rng.integers(12, 28, 2)
            slice_[(y - cy) ** 2 + (x - cx) ** 2 < 16] += 150
        return ImageData(slice_[None].astype(np.float32), geometry)

    def all_cases():
        for index in range(cases + test):
            name = "lesion" if index % (cases // lesions) == 0 or index >= cases and index % 2 else "healthy"
            yield RawCase(
                f"slice_{index:03d}",
                [image(name == "lesion")],
                class_name=name,
                subject=f"patient_{index // 2:03d}",
                split="train" if index < cases else "test",
            )

    dataset_json = {"channel_names": {"0": "MR"}, "task": "classification", "classes": CLASSES, "file_ending": ".nii.gz"}
    return RawDataset(write_raw_dataset(root, 950, "Planted", dataset_json=dataset_json, cases=all_cases()))


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("classification")
    dataset = make_dataset(root / "raw")
    return dataset, preprocess_with_tiny_network(dataset, root / "preprocessed" / dataset.name, "2d")


def test_class_weights_are_planned_from_the_class_counts_and_weight_the_loss(planted):
    dataset, preprocessed = planted
    plans = Plans.load(preprocessed / "plans.json")
    lesions = sum(1 for case in dataset.cases("train") if case.class_index == 1)
    total = len(dataset.cases("train"))
    assert plans.class_weights == pytest.approx({"healthy": total / (2 * (total - lesions)), "lesion": total / (2 * lesions)})
    loss = task_for(dataset.spec).make_loss(4, "", plans)
    logits, target = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]]), torch.tensor([0, 1, 1])
    weights = torch.tensor([plans.class_weights["healthy"], plans.class_weights["lesion"]])
    expected = torch.nn.functional.cross_entropy(logits, target, weight=weights)
    assert loss([logits], [target]).item() == pytest.approx(expected.item())
    assert expected.item() != pytest.approx(torch.nn.functional.cross_entropy(logits, target).item())


def test_a_tiny_classification_run_learns_the_planted_signal(planted, tmp_path):
    dataset, preprocessed = planted
    settings = replace(
        trainer_settings("short"), epochs=8, iterations_per_epoch=10, validation_iterations=4, num_workers=0, initial_lr=1e-2
    )
    fold = train_fold(preprocessed, tmp_path / "results", "2d", fold="0", settings=settings, trainer="short")
    log = (fold / "training_log.txt").read_text()
    accuracies = [float(value) for value in re.findall(r"balanced accuracy ([0-9.]+)", log)]
    assert len(accuracies) == 8 and accuracies[-1] >= 0.9
    splits = json.loads((preprocessed / "splits_final.json").read_text())
    subjects = {case.case_id: case.subject for case in dataset.cases("train")}
    for fold_split in splits:  # grouped by patient: no patient on both sides
        assert not {subjects[c] for c in fold_split["train"]} & {subjects[c] for c in fold_split["val"]}


def test_validation_predict_and_evaluate_write_every_case_with_its_probabilities(planted, tmp_path, capsys):
    dataset, preprocessed = planted
    settings = replace(
        trainer_settings("short"), epochs=4, iterations_per_epoch=10, validation_iterations=2, num_workers=0, initial_lr=1e-2
    )
    fold = train_fold(preprocessed, tmp_path / "results", "2d", fold="1", settings=settings, trainer="short")
    validation = json.loads((fold / "validation" / "summary.json").read_text())
    splits = json.loads((preprocessed / "splits_final.json").read_text())
    assert sorted(validation["cases"]) == sorted(splits[1]["val"]) and validation["classes"] == ["healthy", "lesion"]
    references = {case.case_id: case.class_index for case in dataset.cases("train")}
    assert all(validation["cases"][c]["reference"] == ["healthy", "lesion"][references[c]] for c in validation["cases"])

    [table] = predict_folder(load_trained_model(fold.parent), dataset.root / "imagesTs", tmp_path / "out", mirroring=True)
    rows = list(csv.DictReader(table.open()))
    test_cases = sorted(case.case_id for case in dataset.cases("test"))
    assert [row["case_id"] for row in rows] == test_cases
    for row in rows:
        p = [float(row["probability_healthy"]), float(row["probability_lesion"])]
        assert sum(p) == pytest.approx(1, abs=1e-5) and row["prediction"] == ["healthy", "lesion"][int(np.argmax(p))]

    assert main(["evaluate", str(dataset.root / "labelsTs.csv"), str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["metrics"]["cases"] == len(test_cases) and "balanced_accuracy" in capsys.readouterr().out
    # A prediction table missing a case is refused, naming the case.
    (tmp_path / "out" / "predictions.csv").write_text("\n".join(table.read_text().splitlines()[:-1]) + "\n")
    assert main(["evaluate", str(dataset.root / "labelsTs.csv"), str(tmp_path / "out")]) == 2
    assert test_cases[-1] in capsys.readouterr().err


def test_a_segmentation_models_encoder_initialises_the_classifier(tmp_path):
    from autoseg.networks import Architecture, Classifier, UNet
    from autoseg.training.checkpoint import load_pretrained_weights, save_checkpoint

    architecture = Architecture([4, 8, 16], [[3, 3]] * 3, [[1, 1], [2, 2], [2, 2]])
    segmentation = UNet(1, 3, architecture)
    save_checkpoint(tmp_path / "seg.pt", {"network": segmentation.state_dict()})
    classifier = Classifier(1, 2, architecture)
    report = load_pretrained_weights(classifier, tmp_path / "seg.pt")
    for name, tensor in classifier.state_dict().items():
        if name.startswith("encoder."):
            assert torch.equal(tensor, segmentation.state_dict()[name]), name
    assert "head.weight" in report.summary(tmp_path / "seg.pt")  # the new head keeps its initialisation, and says so


def test_ddp_classification_validates_every_case_once_from_the_processes_tables(planted, tmp_path):
    dataset, preprocessed = planted
    settings = replace(trainer_settings("short"), epochs=1, iterations_per_epoch=2, validation_iterations=1, num_workers=0)
    fold = train_fold(preprocessed, tmp_path / "results", "2d", fold="2", device="cpu", settings=settings, trainer="short", num_processes=2)
    validation = fold / "validation"
    assert sorted(p.name for p in validation.glob("predictions*.csv")) == ["predictions_part0.csv", "predictions_part1.csv"]
    summary = json.loads((validation / "summary.json").read_text())
    splits = json.loads((preprocessed / "splits_final.json").read_text())
    assert sorted(summary["cases"]) == sorted(splits[2]["val"]) and summary["metrics"]["cases"] == len(splits[2]["val"])
    # Validating again in one process replaces the part tables rather than reading them twice.
    train_fold(preprocessed, tmp_path / "results", "2d", fold="2", settings=settings, trainer="short", validation_only=True)
    assert sorted(p.name for p in validation.glob("predictions*.csv")) == ["predictions.csv"]
