"""find_best_configuration and ensemble for classification, on hand-built validation tables."""

import csv
import json
import shlex

import numpy as np
import pytest

from autoseg.cli import main
from autoseg.dataset import DatasetSpec
from autoseg.evaluation import write_summary
from autoseg.tasks.classification.metrics import classification_summary
from autoseg.tasks.classification.table import write_predictions
from autoseg.workflows.best_configuration import find_best_configuration

DATASET = {
    "channel_names": {"0": "PET", "1": "T1"},
    "task": "classification",
    "classes": {"CN": 0, "AD": 1},
    "numTraining": 8,
    "file_ending": ".nii.gz",
}
SPEC = DatasetSpec.from_json(DATASET)
TRUTH = {f"case_{i}": i % 2 for i in range(8)}


def p_ad(case: int, wrong: set[int]) -> float:
    """Confidently right, or narrowly wrong on the cases in ``wrong``."""
    right = 0.9 if TRUTH[f"case_{case}"] else 0.1
    return (0.45 if TRUTH[f"case_{case}"] else 0.55) if case in wrong else right


def build_results(root, folds=("0", "1")):
    """Two configurations, each narrowly wrong on two different cases: their mean is right everywhere."""
    results = root / "results" / "Dataset044_Ad"
    for name, wrong in (("2d", {0, 1}), ("3d_fullres", {2, 3})):
        model = results / f"default__plans__{name}"
        model.mkdir(parents=True)
        (model / "dataset.json").write_text(json.dumps(DATASET))
        for fold in folds:
            validation = model / f"fold_{fold}" / "validation"
            cases = [c for c in range(int(fold), 8, len(folds))]
            probabilities = {f"case_{c}": np.array([1 - p_ad(c, wrong), p_ad(c, wrong)]) for c in cases}
            write_predictions(validation / "predictions.csv", probabilities, SPEC)
            write_summary(validation / "summary.json", classification_summary(probabilities, {c: TRUTH[c] for c in probabilities}, SPEC))
    (root / "gt").mkdir()
    return results


def test_find_best_for_classification_ranks_by_balanced_accuracy_and_ensembles_probabilities(tmp_path):
    results = build_results(tmp_path)
    chosen = find_best_configuration(results, tmp_path / "gt", folds=("0", "1"), num_processes=1, say=lambda message: None)
    ensemble = "default__plans__2d+default__plans__3d_fullres"
    assert chosen["metric"] == "balanced_accuracy" and chosen["best"] == ensemble
    scores = {name: c["score"] for name, c in chosen["candidates"].items()}
    assert scores == pytest.approx({"default__plans__2d": 0.75, "default__plans__3d_fullres": 0.75, ensemble: 1.0})
    merged = list(csv.DictReader((results / "default__plans__2d" / "crossval_results_folds_0_1" / "predictions.csv").open()))
    assert [row["case_id"] for row in merged] == sorted(TRUTH)
    assert "postprocessing" not in chosen and not (results / "postprocessing.json").exists()
    commands = [
        shlex.split(line) for line in (results / "inference_instructions.txt").read_text().splitlines() if line.startswith("autoseg")
    ]
    assert [c[1] for c in commands] == ["predict", "predict", "ensemble"]


def test_autoseg_ensemble_averages_classification_tables(tmp_path):
    for folder, wrong in (("a", {0, 1}), ("b", {2, 3})):
        write_predictions(
            tmp_path / folder / "predictions.csv",
            {c: np.array([1 - p_ad(int(c[5:]), wrong), p_ad(int(c[5:]), wrong)]) for c in TRUTH},
            SPEC,
        )
        (tmp_path / folder / "dataset.json").write_text(json.dumps(DATASET))
    assert main(["ensemble", "-i", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(tmp_path / "mean")]) == 0
    rows = {row["case_id"]: row for row in csv.DictReader((tmp_path / "mean" / "predictions.csv").open())}
    assert float(rows["case_0"]["probability_CN"]) == pytest.approx((0.45 + 0.9) / 2)  # CN: narrowly wrong in a, right in b
    assert all(row["prediction"] == ["CN", "AD"][TRUTH[case]] for case, row in rows.items())
