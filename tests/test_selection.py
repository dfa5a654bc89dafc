"""Postprocessing and find_best_configuration on hand-built predictions with known answers."""

import json
import shlex

import numpy as np
import pytest

from autoseg.cli import main
from autoseg.errors import AutosegError
from autoseg.evaluation import evaluate_case, summarise, write_summary
from autoseg.inference.postprocessing import Postprocessing, apply_postprocessing_folder, largest_component
from autoseg.io import Geometry, ImageData, read_image, write_image
from autoseg.selection import determine_postprocessing
from autoseg.workflows.best_configuration import find_best_configuration

GEOMETRY = Geometry((2.0, 1.0, 1.0), (5.0, -3.0, 1.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
DATASET = {"channel_names": {"0": "MR"}, "labels": {"background": 0, "a": 1, "b": 2}, "numTraining": 6, "file_ending": ".nii.gz"}


def write_labels(path, labels):
    write_image(ImageData(labels[None].astype(np.uint8), GEOMETRY), path)


def reference(case: int) -> np.ndarray:
    """Label 1 and label 2 as two touching boxes, shifted a little per case."""
    labels = np.zeros((6, 16, 16), np.uint8)
    labels[1:5, 2 + case % 3 : 8, 2:8] = 1
    labels[1:5, 2 + case % 3 : 8, 8:12] = 2
    return labels


def test_largest_component_keeps_the_biggest_and_counts_diagonal_neighbours():
    mask = np.zeros((8, 8), bool)
    mask[0:3, 0:3] = True  # 9 voxels
    mask[3, 3] = True  # touches the box by a corner: one component of 10
    mask[6:8, 6:8] = True  # 4 voxels, apart
    kept = largest_component(mask)
    assert kept.sum() == 10 and not kept[6:, 6:].any()
    assert not largest_component(np.zeros((4, 4), bool)).any()


def test_postprocessing_removes_a_planted_blob_per_step():
    labels = reference(0)
    noisy = labels.copy()
    noisy[5, 14, 14] = 1  # a blob of label 1 far from everything
    noisy[1, 8, 12] = 2  # touches label 2's box by a corner: part of it
    expected = noisy.copy()
    expected[5, 14, 14] = 0
    assert np.array_equal(Postprocessing(foreground_largest_component=True).apply(noisy), expected)
    assert np.array_equal(Postprocessing(largest_component_per_label=[1]).apply(noisy), expected)
    assert np.array_equal(Postprocessing(largest_component_per_label=[2]).apply(noisy), noisy)
    assert np.array_equal(Postprocessing().apply(noisy), noisy)


def test_postprocessing_is_chosen_only_where_it_raises_dice(tmp_path):
    structures = {"a": (1,), "b": (2,)}
    helped, hurt = [], []
    for case in range(3):
        labels = reference(case)
        write_labels(tmp_path / f"ref_{case}.nii.gz", labels)
        noisy = labels.copy()
        noisy[5, 13:15, 13:15] = 1  # a spurious blob of label 1
        write_labels(tmp_path / f"noisy_{case}.nii.gz", noisy)
        helped.append((tmp_path / f"noisy_{case}.nii.gz", tmp_path / f"ref_{case}.nii.gz"))
        # A reference with a second, separate structure of label 2, predicted exactly: removing it would hurt.
        two = labels.copy()
        two[5, 12:15, 1:4] = 2
        write_labels(tmp_path / f"two_{case}.nii.gz", two)
        hurt.append((tmp_path / f"two_{case}.nii.gz", tmp_path / f"two_{case}.nii.gz"))

    steps, report = determine_postprocessing(helped, structures, [1, 2], num_processes=1)
    assert steps == Postprocessing(foreground_largest_component=True, largest_component_per_label=[])
    assert report["dice_with_chosen_steps"] == pytest.approx(1.0) and report["dice_without"] < 1
    steps, report = determine_postprocessing(hurt, structures, [1, 2], num_processes=1)
    assert not steps.does_something and report["dice_with_chosen_steps"] == pytest.approx(1.0)
    assert report["dice_foreground_largest_component"] < 1 and report["dice_largest_component_of_label"]["2"] < 1


def test_apply_postprocessing_keeps_geometry_and_copies_dataset_json(tmp_path):
    noisy = reference(1)
    noisy[5, 14, 14] = 1
    write_labels(tmp_path / "in" / "case_1.nii.gz", noisy)
    (tmp_path / "in" / "dataset.json").write_text(json.dumps(DATASET))
    Postprocessing(True, []).save(tmp_path / "pp.json")
    assert main(["apply_postprocessing", "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-pp", str(tmp_path / "pp.json")]) == 0
    result = read_image(tmp_path / "out" / "case_1.nii.gz")
    assert result.geometry == GEOMETRY and np.array_equal(result.array[0], reference(1))
    assert (tmp_path / "out" / "dataset.json").is_file()
    (tmp_path / "bad.json").write_text('{"foreground_largest_component": true}')
    assert main(["apply_postprocessing", "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out2"), "-pp", str(tmp_path / "bad.json")]) == 2
    assert not (tmp_path / "out2").exists()
    with pytest.raises(AutosegError, match="input folder"):
        apply_postprocessing_folder(tmp_path / "in", tmp_path / "in", Postprocessing())


def one_hot(labels, classes=3, confidence=0.9):
    probabilities = np.full((classes, *labels.shape), (1 - confidence) / (classes - 1), np.float32)
    for value in range(classes):
        probabilities[value][labels == value] = confidence
    return probabilities


def build_results(root, cases=6, folds=("0", "1")):
    """Two 'configurations' trained on two folds: each errs on a different half of label 2, and both
    predict a spurious blob of label 1. Their average is right everywhere except the blob."""
    results = root / "results" / "Dataset042_Boxes"
    references = root / "gt"
    for case in range(cases):
        write_labels(references / f"case_{case}.nii.gz", reference(case))
    for name, half in (("2d", slice(8, 10)), ("3d_fullres", slice(10, 12))):
        model = results / f"default__plans__{name}"
        model.mkdir(parents=True)
        (model / "dataset.json").write_text(json.dumps(DATASET))
        for fold in folds:
            validation = model / f"fold_{fold}" / "validation"
            validation.mkdir(parents=True)
            per_case = {}
            for case in range(int(fold), cases, len(folds)):
                truth = reference(case)
                probabilities = one_hot(truth)
                wrong = np.zeros(truth.shape, bool)
                wrong[:, :, half] = truth[:, :, half] == 2
                probabilities[2][wrong], probabilities[0][wrong] = 0.3, 0.6  # background wins here, but only just
                probabilities[:, 5, 13:15, 13:15] = np.array([0.45, 0.55, 0.0])[:, None, None]  # the blob
                labels = probabilities.argmax(0)
                write_labels(validation / f"case_{case}.nii.gz", labels)
                np.savez_compressed(validation / f"case_{case}.npz", probabilities=probabilities)
                per_case[f"case_{case}"] = evaluate_case(
                    validation / f"case_{case}.nii.gz", references / f"case_{case}.nii.gz", {"a": (1,), "b": (2,)}
                )
            write_summary(validation / "summary.json", summarise(per_case))
    return results, references


def test_find_best_prefers_the_ensemble_and_writes_instructions_that_name_it(tmp_path):
    results, references = build_results(tmp_path)
    chosen = find_best_configuration(results, references, folds=("0", "1"), num_processes=1, say=lambda message: None)
    scores = {name: c["score"] for name, c in chosen["candidates"].items()}
    assert chosen["best"] == "default__plans__2d+default__plans__3d_fullres"
    assert scores[chosen["best"]] > max(scores["default__plans__2d"], scores["default__plans__3d_fullres"])
    assert chosen["postprocessing"] == {"foreground_largest_component": True, "largest_component_per_label": []}
    merged = results / "default__plans__2d" / "crossval_results_folds_0_1"
    assert sorted(p.name for p in merged.glob("*.nii.gz")) == [f"case_{c}.nii.gz" for c in range(6)]
    pp = json.loads((results / "postprocessing.json").read_text())
    assert pp["mean_dice"]["dice_with_chosen_steps"] == pytest.approx(1.0)

    commands = [
        shlex.split(line) for line in (results / "inference_instructions.txt").read_text().splitlines() if line.startswith("autoseg")
    ]
    assert [c[1] for c in commands] == ["predict", "predict", "ensemble", "apply_postprocessing"]
    assert {c[c.index("-c") + 1] for c in commands[:2]} == {"2d", "3d_fullres"} and all("--save_probabilities" in c for c in commands[:2])
    assert commands[3][commands[3].index("-pp") + 1] == str(results / "postprocessing.json")


def test_find_best_without_probabilities_scores_single_configurations(tmp_path):
    results, references = build_results(tmp_path)
    for npz in results.glob("default__plans__3d_fullres/fold_*/validation/*.npz"):
        npz.unlink()
    messages = []
    chosen = find_best_configuration(results, references, folds=("0", "1"), num_processes=1, say=messages.append)
    assert set(chosen["candidates"]) == {"default__plans__2d", "default__plans__3d_fullres"}
    assert any("--npz" in m for m in messages)


def test_find_best_names_what_is_missing(tmp_path):
    results, references = build_results(tmp_path)
    with pytest.raises(AutosegError, match=r"fold\(s\) 2, 3, 4"):
        find_best_configuration(results, references, configurations=["2d"], num_processes=1)
    with pytest.raises(AutosegError, match="configuration 3d_lowres was not trained"):
        find_best_configuration(results, references, configurations=["3d_lowres"], folds=("0", "1"), num_processes=1)
    # Folds trained on different splits validate a case twice.
    (results / "default__plans__2d" / "fold_1" / "validation" / "summary.json").write_text(
        (results / "default__plans__2d" / "fold_0" / "validation" / "summary.json").read_text()
    )
    with pytest.raises(AutosegError, match="different splits"):
        find_best_configuration(results, references, configurations=["2d"], folds=("0", "1"), num_processes=1)


def test_evaluate_scores_the_labels_and_regions_given_with_l(tmp_path, capsys):
    for case in range(2):
        write_labels(tmp_path / "ref" / f"case_{case}.nii.gz", reference(case))
        prediction = reference(case)
        prediction[prediction == 2] = 1  # everything called label 1: the region {1, 2} is perfect
        write_labels(tmp_path / "pred" / f"case_{case}.nii.gz", prediction)
    assert main(["evaluate", str(tmp_path / "ref"), str(tmp_path / "pred"), "-l", "1,2", "2", "-np", "1"]) == 0
    summary = json.loads((tmp_path / "pred" / "summary.json").read_text())
    assert summary["mean"]["1,2"]["dice"] == 1 and summary["mean"]["2"]["dice"] == 0
    assert main(["evaluate", str(tmp_path / "ref"), str(tmp_path / "pred"), "-l", "0"]) == 2
    assert "background" in capsys.readouterr().err
