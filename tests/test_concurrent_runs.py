"""Resumed and concurrent runs never mix: one training of a fold at a time (a killed one's lock is stale), an
interrupted run is named instead of overwritten, and a prediction folder holds the outputs of one run only."""

import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from autoseg.cli import main
from autoseg.training.fold_lock import LOCK_FILE
from tests.conftest import preprocessed_copy
from tests.test_faults import ENV, autoseg


@pytest.fixture(scope="module")
def spine(stand_in_cache, tmp_path_factory):
    root = tmp_path_factory.mktemp("concurrent")
    return root, preprocessed_copy(stand_in_cache, root, "spine", cases=5, test=2, configuration="2d")


def train_command(root, results, *extra):
    return ["train", "901", "2d", "0", "--preprocessed", str(root / "preprocessed"), "--results", str(results), "-tr", "short", *extra]


SHORT = ["--iterations_per_epoch", "1", "--validation_iterations", "1", "--num_workers", "0", "--checkpoint_every", "1"]


def test_one_training_of_a_fold_at_a_time_a_killed_ones_lock_is_stale_and_its_run_is_named(spine, tmp_path, capsys):
    root, _ = spine
    results = tmp_path / "results"
    fold = results / "Dataset901_LumbarSpineDixon" / "short__plans__2d" / "fold_0"
    command = train_command(root, results, "--epochs", "400", *SHORT)
    first = subprocess.Popen(autoseg(*command), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 120
        while not (fold / "checkpoint_latest.pt").is_file() and first.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, "the first training ended before the test could run a second"
        settings = (fold / "training_settings.json").read_text()

        assert main(command) == 2  # the second run, while the first lives
        error = capsys.readouterr().err
        assert f"is being trained by another run (process {first.pid} on " in error and "Traceback" not in error
        assert (fold / "training_settings.json").read_text() == settings  # the first run's record, untouched
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()

    # killed: its lock is stale, and what it left is named rather than restarted over
    (fold / ".checkpoint_final.pt.abc123.tmp").write_bytes(b"half a checkpoint")
    assert (fold / LOCK_FILE).is_file()
    assert main(train_command(root, results, "--epochs", "400", *SHORT)) == 2
    error = capsys.readouterr().err
    assert "holds an interrupted run (checkpoint_latest.pt after epoch" in error and "pass --continue to resume it" in error
    assert not list(fold.glob(".*.tmp"))  # what the killed run was writing is cleaned up

    # --continue takes the stale lock and resumes (its recorded settings: shortened to finish here)
    record = json.loads((fold / "training_settings.json").read_text())
    record["settings"]["epochs"] = 3
    (fold / "training_settings.json").write_text(json.dumps(record))
    assert main(train_command(root, results, "--epochs", "3", *SHORT, "--continue")) == 0
    assert (fold / "checkpoint_final.pt").is_file()


def test_a_device_this_machine_lacks_is_refused_before_anything_is_written(spine, tmp_path, capsys):
    root, _ = spine
    results = tmp_path / "results"
    for device in ("cuda", "cuda:7", "tpu"):
        assert main(train_command(root, results, "--device", device, "--epochs", "1")) == 2
        error = capsys.readouterr().err
        assert f"--device {device}:" in error and "Traceback" not in error
    assert not list(results.rglob("training_settings.json"))


@pytest.fixture(scope="module")
def trained(spine):
    root, dataset = spine
    results = root / "results"
    command = train_command(root, results, "--epochs", "1", "--iterations_per_epoch", "1", "--validation_iterations", "1")
    assert main([*command, "--num_workers", "0"]) == 0
    assert main([*command[:3], "1", *command[4:], "--num_workers", "0"]) == 0
    return root, dataset, results


def predict(trained, output, *extra):
    root, dataset, results = trained
    inputs = ["-i", str(dataset.root / "imagesTs"), "-o", str(output)]
    return main(["predict", "-d", "901", "-c", "2d", "-tr", "short", "--results", str(results), *inputs, *extra])


@pytest.mark.parametrize(
    "first, then, difference",
    [
        (["-f", "0", "--step_size", "0.5"], ["-f", "0", "--step_size", "0.75"], "step size 0.5 there, 0.75 now"),
        (["-f", "0", "--disable_tta"], ["-f", "0"], "mirroring false there, true now"),
        (["-f", "0"], ["-f", "1"], 'folds ["0"] there, ["1"] now'),
    ],
)
def test_continuing_a_prediction_folder_of_another_run_is_refused(trained, tmp_path, capsys, first, then, difference):
    output = tmp_path / "out"
    assert predict(trained, output, *first) == 0
    one = sorted(output.glob("*.nii.gz"))[0]
    one.unlink()  # as if the run had stopped before it
    before = {path.name: path.read_bytes() for path in output.iterdir() if path.is_file()}
    assert predict(trained, output, *then, "--continue_prediction") == 2
    error = capsys.readouterr().err
    assert "holds predictions of another run" in error and difference in error
    assert {path.name: path.read_bytes() for path in output.iterdir() if path.is_file()} == before  # nothing written
    assert predict(trained, output, *then) == 2  # nor may a fresh run leave the other run's outputs beside its own
    capsys.readouterr()


def test_continuing_with_a_retrained_fold_is_refused(trained, tmp_path, capsys):
    root, dataset, results = trained
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    output = tmp_path / "out"
    assert predict((root, dataset, copy), output, "-f", "0") == 0
    sorted(output.glob("*.nii.gz"))[0].unlink()
    model = copy / dataset.name / "short__plans__2d"
    shutil.copy(model / "fold_1" / "checkpoint_final.pt", model / "fold_0" / "checkpoint_final.pt")  # fold 0 trained again
    assert predict((root, dataset, copy), output, "-f", "0", "--continue_prediction") == 2
    assert "holds predictions of another run (network weights " in capsys.readouterr().err


def test_the_same_run_continues_and_a_folder_without_a_record_is_refused(trained, tmp_path, capsys):
    output = tmp_path / "out"
    assert predict(trained, output, "-f", "0") == 0
    expected = {path.name: path.read_bytes() for path in output.glob("*.nii.gz")}
    sorted(output.glob("*.nii.gz"))[0].unlink()
    assert predict(trained, output, "-f", "0", "--continue_prediction") == 0
    assert {path.name: path.read_bytes() for path in output.glob("*.nii.gz")} == expected
    (output / "prediction.json").unlink()
    assert predict(trained, output, "-f", "0", "--continue_prediction") == 2
    assert "holds predictions but no prediction.json" in capsys.readouterr().err


def test_the_record_is_the_same_for_a_model_and_its_exported_zip(trained, tmp_path):
    root, dataset, results = trained
    from autoseg import load_model
    from autoseg.sharing import export_model

    archive = tmp_path / "model.zip"
    export_model(results / dataset.name, archive, trainer="short", folds=["0"])
    output = tmp_path / "out"
    assert predict(trained, output, "-f", "0") == 0
    sorted(output.glob("*.nii.gz"))[0].unlink()
    model = load_model(archive, trainer="short")
    model.predict_folder(dataset.root / "imagesTs", output, continue_prediction=True)
    assert len(list(output.glob("*.nii.gz"))) == len(list((dataset.root / "imagesTs").glob("*_0000.nii.gz")))
    shutil.rmtree(output)
