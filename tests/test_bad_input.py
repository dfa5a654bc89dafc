"""Bad input at every command: one clear message naming the thing and the fix, exit 2, no traceback, nothing partial."""

import json
import shutil
from dataclasses import replace

import pytest

from autoseg.cli import main
from autoseg.training import train_fold, trainer_settings
from tests.conftest import preprocessed_copy


@pytest.fixture(scope="module")
def setup(stand_in_cache, tmp_path_factory):
    """Raw, preprocessed and results folders of the spine stand-in with a one-iteration 2d model (fold 0)."""
    root = tmp_path_factory.mktemp("bad_input")
    dataset = preprocessed_copy(stand_in_cache, root, "spine", cases=5, test=1, configuration="2d")
    settings = replace(trainer_settings("short"), epochs=1, iterations_per_epoch=1, validation_iterations=1, num_workers=0)
    train_fold(root / "preprocessed" / dataset.name, root / "results", "2d", fold="0", settings=settings)
    return root


def folders(root):
    return ["--raw", str(root / "raw"), "--preprocessed", str(root / "preprocessed")]


def trained(root):
    return ["--preprocessed", str(root / "preprocessed"), "--results", str(root / "results")]


def make_input(root, name, make):
    """A prediction input folder made by ``make(folder, source_case_files)``."""
    folder = root / "inputs" / name
    folder.mkdir(parents=True)
    sources = sorted((root / "raw" / "Dataset901_LumbarSpineDixon" / "imagesTs").glob("*"))
    make(folder, sources)
    return folder


def corrupt(folder, sources):
    for source in sources:
        (folder / source.name).write_bytes(source.read_bytes()[:300])


def wrong_ending(folder, sources):
    for source in sources:
        shutil.copy(source, folder / source.name)
    (folder / "notes.txt").write_text("scan notes")


def one_channel(folder, sources):
    shutil.copy(sources[0], folder / sources[0].name)


CASES = {
    "unknown dataset id": (lambda r: ["plan_and_preprocess", "-d", "999", *folders(r)], "no dataset with id 999"),
    "missing dataset folder": (lambda r: ["verify", "-d", str(r / "nowhere" / "Dataset123_X"), "--raw", str(r / "raw")], "not found"),
    "unknown configuration": (lambda r: ["train", "901", "4d_fullres", "0", *trained(r)], "configuration '4d_fullres' is not in the plans"),
    "fold out of range": (lambda r: ["train", "901", "2d", "7", *trained(r)], "fold must be 0-4 or 'all'"),
    "budget and epochs": (
        lambda r: ["train", "901", "2d", "0", "--budget_minutes", "5", "--epochs", "3", *trained(r)],
        "--budget_minutes chooses the epochs and iterations per epoch; leave out --epochs",
    ),
    "unknown optimiser": (
        lambda r: ["train", "901", "2d", "0", "--optimiser", "lion", *trained(r)],
        "unknown optimiser 'lion'; known: adam,",
    ),
    "a loss for another task kind": (
        lambda r: ["train", "901", "2d", "1", "--loss", "mse", *trained(r)],
        "loss 'mse' is for regression, not segmentation; losses for segmentation:",
    ),
    "negative learning rate": (lambda r: ["train", "901", "2d", "0", "--lr", "-1", *trained(r)], "--lr must be a positive learning rate"),
    "predict: other channel count": (
        lambda r: predict(r, str(make_input(r, "channels", one_channel)), str(r / "out_channels")),
        "_0001",
    ),
    "predict: wrong file ending": (
        lambda r: predict(r, str(make_input(r, "ending", wrong_ending)), str(r / "out_ending")),
        "notes.txt",
    ),
    "predict: corrupt image": (
        lambda r: predict(r, str(make_input(r, "corrupt", corrupt)), str(r / "out_corrupt")),
        "spine_",
    ),
    "predict: unknown fold": (
        lambda r: predict(r, str(r / "raw" / "Dataset901_LumbarSpineDixon" / "imagesTs"), str(r / "out_fold"), "-f", "3"),
        "fold_3",
    ),
    "output path through a file": (
        lambda r: predict(
            r,
            str(r / "raw" / "Dataset901_LumbarSpineDixon" / "imagesTs"),
            str(r / "raw" / "Dataset901_LumbarSpineDixon" / "dataset.json" / "out"),
        ),
        "dataset.json",
    ),
    "train: a device this machine lacks": (
        lambda r: ["train", "901", "2d", "1", "--device", "cuda:7", *trained(r)],
        "--device cuda:7: this machine has no CUDA device",
    ),
    "predict: a device this machine lacks": (
        lambda r: predict(r, str(r / "raw" / "Dataset901_LumbarSpineDixon" / "imagesTs"), str(r / "out_device"), "--device", "cuda"),
        "--device cuda: this machine has no CUDA device",
    ),
    "evaluate: missing folder": (lambda r: ["evaluate", str(r / "nowhere"), str(r / "nowhere_either"), "-l", "1"], "nowhere"),
    "plans edited into nonsense": (
        lambda r: ["train", "901", "2d", "1", "-p", nonsense_plans(r), *trained(r)],
        "patch_size [37, 50] must be positive multiples",
    ),
}


def predict(root, inputs, output, *extra):
    """``autoseg predict`` of the fold-0 2d model with ``inputs`` into ``output``."""
    return ["predict", "-d", "901", "-c", "2d", "-i", inputs, "-o", output, "--results", str(root / "results"), *extra]


def nonsense_plans(root):
    preprocessed = root / "preprocessed" / "Dataset901_LumbarSpineDixon"
    plans = json.loads((preprocessed / "plans.json").read_text())
    plans["configurations"]["2d"]["patch_size"] = [37, 50]  # not a multiple of the network's strides
    (preprocessed / "plans_broken.json").write_text(json.dumps(plans))
    return "plans_broken.json"


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_named_with_exit_2_and_no_traceback(setup, case, capsys):
    arguments, expected = CASES[case]
    assert main(arguments(setup)) == 2
    error = capsys.readouterr().err
    assert expected in error and "Traceback" not in error and "\nautoseg " in "\n" + error  # after any progress bar


def test_verbose_shows_the_traceback(setup, capsys):
    assert main(["--verbose", "plan_and_preprocess", "-d", "999", *folders(setup)]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_a_refused_prediction_leaves_no_prediction_and_no_temporary_file(setup):
    output = setup / "out_nothing"
    assert (
        main(
            [
                "predict",
                "-d",
                "901",
                "-c",
                "2d",
                "-i",
                str(make_input(setup, "corrupt_only", corrupt)),
                "-o",
                str(output),
                "--results",
                str(setup / "results"),
            ]
        )
        == 2
    )
    assert not list(output.glob("*.nii.gz")) and not list(output.glob(".*"))
