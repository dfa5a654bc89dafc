"""Sparse annotations: a label named `ignore` marks unannotated voxels. verify's rules, the masked losses, the
pseudo-Dice, the scores, patch sampling, and a sparsely labelled dataset converted, trained and predicted densely."""

import json
import math
import shutil

import numpy as np
import pytest
import torch
from torch.nn import functional

from autoseg.cli import main
from autoseg.dataset import DatasetSpec, RawDataset, verify_dataset
from autoseg.dataset.dataset_json import dataset_json_problems
from autoseg.evaluation import score_label_maps
from autoseg.io import ImageData, read_image, write_image
from autoseg.losses import DiceCELoss, RegionDiceBCELoss
from autoseg.preprocessing.storage import finished_cases, load_locations
from autoseg.tasks import task_for

LABELS = {"background": 0, "muscle": 1, "fat": 2, "ignore": 3}


def spec_json(labels=LABELS, **extra):
    return {"channel_names": {"0": "MR"}, "labels": labels, "numTraining": 1, "file_ending": ".nii.gz", **extra}


def test_dataset_json_rules_for_the_ignore_label():
    assert dataset_json_problems(spec_json()) == []
    spec = DatasetSpec.from_json(spec_json())
    assert spec.ignore_label == 3 and task_for(spec).out_channels() == 3 and spec.label_names() == {1: "muscle", 2: "fat"}
    [problem] = dataset_json_problems(spec_json({"background": 0, "muscle": 1, "ignore": 2, "fat": 3}))
    assert "'ignore' label must be a single value above every other label" in problem and "give it the value 4" in problem
    regions = {"background": 0, "whole": [1, 2], "core": [2], "ignore": 3}
    assert dataset_json_problems(spec_json(regions, regions_class_order=[1, 2])) == []
    assert "leave it out" in dataset_json_problems(spec_json(regions, regions_class_order=[1, 3]))[0]
    region_spec = DatasetSpec.from_json(spec_json(regions, regions_class_order=[1, 2]))
    assert task_for(region_spec).out_channels() == 2 and task_for(region_spec).class_names() == ["whole", "core"]


def test_the_loss_sees_only_annotated_voxels_and_a_patch_without_any_adds_nothing():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    labels = torch.randint(0, 3, (2, 1, 8, 8))
    sparse = labels.clone()
    sparse[:, :, :, 4:] = 3  # the right half unannotated
    loss = DiceCELoss(ignore_index=3)(logits, sparse)
    loss.backward()
    assert logits.grad[..., 4:].abs().max() == 0  # nothing flows from unannotated voxels
    annotated_ce = functional.cross_entropy(logits[..., :4].detach(), labels[:, 0, :, :4])
    ce_only = DiceCELoss(ignore_index=3, dice=False)(logits.detach(), sparse)
    assert ce_only.item() == pytest.approx(annotated_ce.item(), rel=1e-6)
    dice_only = DiceCELoss(ignore_index=3, ce=False)(logits.detach(), sparse)
    assert dice_only.item() == pytest.approx(DiceCELoss(ce=False)(logits.detach()[..., :4], labels[..., :4]).item(), rel=1e-5)
    nothing = DiceCELoss(ignore_index=3)(logits.detach(), torch.full_like(labels, 3))
    assert math.isfinite(nothing.item()) and nothing.item() < 1e-2

    regions = torch.randint(0, 2, (2, 2, 8, 8)).float()
    annotated = torch.ones(2, 1, 8, 8)
    annotated[..., 4:] = 0
    region_logits = torch.randn(2, 2, 8, 8, requires_grad=True)
    masked = RegionDiceBCELoss(masked=True)(region_logits, torch.cat([regions, annotated], 1))
    masked.backward()
    assert region_logits.grad[..., 4:].abs().max() == 0
    left_only = RegionDiceBCELoss()(region_logits.detach()[..., :4], regions[..., :4])
    assert masked.item() == pytest.approx(left_only.item(), rel=1e-5)


def test_pseudo_dice_and_scores_leave_unannotated_voxels_out():
    task = task_for(DatasetSpec.from_json(spec_json()))
    target = torch.zeros(1, 1, 4, 4, dtype=torch.long)
    target[..., :2, :2] = 1
    target[..., 2:, :] = 3  # unannotated: whatever is predicted there is neither right nor wrong
    output = torch.zeros(1, 3, 4, 4)
    output[:, 1, :2, :2] = 5
    output[:, 2, 2:, :] = 5  # "fat" predicted where nobody annotated
    counts = task.validation_counts(output, target)
    assert counts["tp"].tolist() == [4, 0] and counts["fp"].tolist() == [0, 0] and counts["fn"].tolist() == [0, 0]
    predicted, reference = output.argmax(1)[0].numpy(), target[0, 0].numpy()
    scores = score_label_maps(predicted, reference, task.evaluation_structures(), spacing=(1.0, 1.0), ignore_label=3)
    assert scores["muscle"]["dice"] == 1 and math.isnan(scores["fat"]["dice"])
    assert score_label_maps(predicted, reference, task.evaluation_structures(), spacing=(1.0, 1.0))["fat"]["dice"] == 0


def test_a_sparsely_labelled_dataset_converts_verifies_trains_and_predicts_densely(stand_in_cache, tmp_path, capsys):
    source = tmp_path / "Dataset077_Sparse"
    shutil.copytree(stand_in_cache("spine", 5, 1), source)
    data = json.loads((source / "dataset.json").read_text())
    ignore = max(data["labels"].values()) + 1
    data["labels"]["ignore"] = ignore
    (source / "dataset.json").write_text(json.dumps(data))
    for index, path in enumerate(sorted((source / "labelsTr").iterdir())):
        label = read_image(path)
        sparse = label.array.copy()
        sparse[..., sparse.shape[-1] // 2 :] = ignore  # half of every image unannotated ...
        if index == 0:
            sparse[:] = ignore  # ... and one case not at all
        write_image(ImageData(sparse, label.geometry), path)

    raw, preprocessed, results = tmp_path / "raw", tmp_path / "preprocessed", tmp_path / "results"
    assert main(["convert", "nnunetv2", str(source), "--raw", str(raw), "-np", "1"]) == 0
    out = capsys.readouterr().out
    assert "no problems found" in out and "holds no annotated voxel (every voxel is 'ignore')" in out
    dataset = RawDataset(raw / "Dataset077_Sparse")
    assert dataset.spec.ignore_label == ignore and verify_dataset(dataset.root, 1).ok
    common = ["--raw", str(raw), "--preprocessed", str(preprocessed), "-np", "1"]
    assert main(["plan_and_preprocess", "-d", "77", "-c", "2d", *common]) == 0
    plans = json.loads((preprocessed / dataset.name / "plans.json").read_text())
    plans["configurations"]["2d"]["architecture"]["features_per_stage"] = [4, 8, 16, 32, 64, 64, 64][
        : len(plans["configurations"]["2d"]["architecture"]["features_per_stage"])
    ]
    (preprocessed / dataset.name / "plans.json").write_text(json.dumps(plans))
    folder = preprocessed / dataset.name / "2d"
    locations = load_locations(folder, finished_cases(folder)[0])
    assert "annotated" in locations and str(ignore) not in locations
    training = ["--epochs", "2", "--iterations_per_epoch", "4", "--validation_iterations", "1", "--num_workers", "0"]
    assert main(["train", "77", "2d", "0", "--preprocessed", str(preprocessed), "--results", str(results), *training]) == 0
    fold = results / dataset.name / "default__plans__2d" / "fold_0"
    summary = json.loads((fold / "validation" / "summary.json").read_text())
    assert set(summary["mean"]) == {name for name in data["labels"] if name not in ("background", "ignore")}
    predictions = tmp_path / "predictions"
    assert main(["predict", "-i", str(dataset.root / "imagesTs"), "-o", str(predictions), "-d", "77", "--results", str(results)]) == 0
    for path in predictions.glob("*.nii.gz"):
        assert ignore not in np.unique(read_image(path).array)  # dense: never the ignore value
