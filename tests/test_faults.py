"""kill -9 in the middle of preprocessing and prediction, then the same command again: it completes,
the results equal an uninterrupted run's, and every file left is whole."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest

from autoseg.data.splits import SplitCase, make_splits
from autoseg.io import read_image
from autoseg.preprocessing.storage import finished_cases, load_case, load_properties
from autoseg.training import train_fold, trainer_settings
from tests.conftest import preprocessed_copy

ENV = dict(os.environ, OMP_NUM_THREADS="1")


def autoseg(*arguments):
    return [sys.executable, "-m", "autoseg.cli", *map(str, arguments)]


def kill_when(command, ready, timeout=120.0):
    """Starts ``command`` in its own process group and kills the group (workers too) with SIGKILL once ``ready()``."""
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + timeout
    while time.time() < deadline and not ready() and process.poll() is None:
        time.sleep(0.02)
    killed = process.poll() is None
    if killed:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return killed


@pytest.fixture(scope="module")
def pet(stand_in_cache, tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    return root, preprocessed_copy(stand_in_cache, root, "pet", cases=8, test=1, configuration="3d_fullres")


def test_preprocessing_killed_midway_completes_on_the_second_run_with_identical_cases(pet):
    root, dataset = pet
    folders = ["-d", dataset.name, "--raw", root / "raw", "--preprocessed", root / "preprocessed", "-c", "3d_fullres", "-np", "1"]
    data = root / "preprocessed" / dataset.name / "3d_fullres"
    reference = {case_id: load_case(data, case_id) for case_id in finished_cases(data)}  # the fixture's run, uninterrupted
    shutil.rmtree(data)
    killed = kill_when(autoseg("preprocess", *folders), lambda: data.is_dir() and len(finished_cases(data)) >= 2)
    assert killed and len(finished_cases(data)) < len(reference)
    subprocess.run(autoseg("preprocess", *folders), check=True, env=ENV, capture_output=True)
    assert finished_cases(data) == sorted(reference)
    for case_id, (expected_data, expected_target, expected_properties) in reference.items():
        again, target, properties = load_case(data, case_id)
        assert np.array_equal(again, expected_data) and np.array_equal(target, expected_target) and properties == expected_properties


def test_prediction_killed_midway_continues_to_the_uninterrupted_result(pet, tmp_path):
    root, dataset = pet
    settings = replace(trainer_settings("short"), epochs=1, iterations_per_epoch=1, validation_iterations=1, num_workers=0)
    train_fold(root / "preprocessed" / dataset.name, root / "results", "3d_fullres", fold="0", settings=settings)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    [source] = (dataset.root / "imagesTs").glob("*_0000.nii.gz")
    for index in range(8):  # eight cases to predict, so the kill lands between two of them
        for channel in (0, 1):
            shutil.copy(str(source).replace("_0000", f"_{channel:04d}"), inputs / f"case_{index}_{channel:04d}.nii.gz")
    command = ["predict", "-d", dataset.name, "-c", "3d_fullres", "-i", inputs, "--results", root / "results", "-f", "0", "--disable_tta"]
    subprocess.run(autoseg(*command, "-o", tmp_path / "uninterrupted"), check=True, env=ENV, capture_output=True)
    output = tmp_path / "interrupted"
    assert kill_when(autoseg(*command, "-o", output), lambda: len(list(output.glob("case_*.nii.gz"))) >= 2)
    written = sorted(output.glob("case_*.nii.gz"))
    assert 2 <= len(written) < 8
    for path in written:  # whatever a kill leaves is whole
        read_image(path)
    subprocess.run(autoseg(*command, "-o", output, "--continue_prediction"), check=True, env=ENV, capture_output=True)
    for expected in sorted((tmp_path / "uninterrupted").glob("case_*.nii.gz")):
        assert np.array_equal(read_image(output / expected.name).array, read_image(expected).array), expected.name


def test_two_folds_trained_at_once_share_one_split_and_one_copy_of_the_plans(pet, tmp_path):
    root, dataset = pet
    preprocessed = root / "preprocessed" / dataset.name
    (preprocessed / "splits_final.json").unlink(missing_ok=True)
    results = tmp_path / "results"
    command = [
        "train",
        dataset.name,
        "3d_fullres",
        "--preprocessed",
        root / "preprocessed",
        "--results",
        results,
        "-tr",
        "short",
        "--epochs",
        "1",
        "--iterations_per_epoch",
        "1",
        "--validation_iterations",
        "1",
        "--num_workers",
        "0",
    ]
    processes = [
        subprocess.Popen(autoseg(*command[:3], fold, *command[3:]), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for fold in ("0", "1")
    ]
    errors = [process.communicate()[1].decode() for process in processes]
    assert [process.returncode for process in processes] == [0, 0], errors
    cases = [
        SplitCase(p.case_id, p.class_index, p.subject)
        for p in (load_properties(preprocessed / "3d_fullres", c) for c in finished_cases(preprocessed / "3d_fullres"))
    ]
    assert json.loads((preprocessed / "splits_final.json").read_text()) == make_splits(cases)
    model = results / dataset.name / "short__plans__3d_fullres"
    assert json.loads((model / "plans.json").read_text()) == json.loads((preprocessed / "plans.json").read_text())
    for fold in ("0", "1"):
        summary = json.loads((model / f"fold_{fold}" / "validation" / "summary.json").read_text())
        assert sorted(summary["cases"]) == make_splits(cases)[int(fold)]["val"]
    assert not list(preprocessed.glob(".*")) and not list(model.glob(".*"))  # no temporary file left behind
