"""Transfer learning, saved probabilities and data-parallel training on the tiny spine stand-in."""

import json

import numpy as np
import pytest
import torch

from autoseg.errors import AutosegError
from autoseg.io import read_image
from autoseg.networks import UNet
from autoseg.plans import Plans
from autoseg.training import train_fold
from autoseg.training.checkpoint import load_checkpoint, load_pretrained_weights, save_checkpoint
from tests.training.conftest import small


def test_pretrained_weights_load_what_matches_and_report_what_was_skipped(spine, tmp_path, capsys):
    preprocessed, results = spine
    source = train_fold(preprocessed, results, "2d", fold="0", settings=small(1)) / "checkpoint_final.pt"
    architecture = Plans.load(preprocessed / "plans.json").configuration("2d").architecture
    trained = load_checkpoint(source)["network"]

    other = UNet(3, 5, architecture)  # three input channels instead of two, four classes instead of three
    report = load_pretrained_weights(other, source)
    first_conv = next(name for name in trained if name.endswith("weight") and trained[name].ndim == 4)
    assert first_conv in report.skipped and "shape" in report.skipped[first_conv]
    assert any("head" in name or "seg" in name for name in report.skipped) and len(report.loaded) > len(report.skipped)
    for name in report.loaded:
        assert torch.equal(other.state_dict()[name], trained[name]), name

    # Through train_fold: the report is printed, and training starts from the loaded weights.
    train_fold(preprocessed, results / "finetune", "2d", fold="1", settings=small(1), pretrained_weights=source)
    assert f"loaded {len(trained)} of {len(trained)} tensors" in capsys.readouterr().out

    foreign = tmp_path / "foreign.pt"
    save_checkpoint(foreign, {"network": {"classifier.weight": torch.zeros(2, 2)}})
    with pytest.raises(AutosegError, match="shares no tensor"):
        load_pretrained_weights(other, foreign)
    with pytest.raises(AutosegError, match="--pretrained_weights and --continue"):
        (results / preprocessed.name / "default__plans__2d" / "fold_3").mkdir(parents=True)
        (results / preprocessed.name / "default__plans__2d" / "fold_3" / "checkpoint_latest.pt").write_bytes(b"")
        train_fold(preprocessed, results, "2d", fold="3", settings=small(1), pretrained_weights=source, resume=True)


def test_npz_saves_probabilities_in_the_raw_geometry_that_agree_with_the_labels(spine):
    preprocessed, results = spine
    output = train_fold(preprocessed, results, "2d", fold="2", settings=small(1), save_probabilities=True)
    case = json.loads((preprocessed / "splits_final.json").read_text())[2]["val"][0]
    labels = read_image(output / "validation" / f"{case}.nii.gz").array[0]
    with np.load(output / "validation" / f"{case}.npz") as archive:
        probabilities = archive["probabilities"]
    assert probabilities.dtype == np.float32 and probabilities.shape == (4, *labels.shape)
    np.testing.assert_allclose(probabilities.sum(0), 1, atol=1e-4)
    assert np.array_equal(probabilities.argmax(0), labels)


def test_ddp_with_two_cpu_processes_trains_one_model_and_validates_every_case(spine, capfd):
    preprocessed, results = spine
    output = train_fold(preprocessed, results, "2d", fold="4", device="cpu", settings=small(2, num_workers=0), num_processes=2)
    printed = capfd.readouterr().out
    assert "on 2 processes on cpu" in printed and printed.count("epoch    1") == 1  # the main process speaks for both
    state = load_checkpoint(output / "checkpoint_final.pt")
    assert [record["epoch"] for record in state["log"]] == [0, 1]
    assert len((output / "training_log.txt").read_text().splitlines()) == 2  # written by one process only
    assert sorted(p.name for p in output.glob("checkpoint_*.pt")) == ["checkpoint_best.pt", "checkpoint_final.pt"]
    summary = json.loads((output / "validation" / "summary.json").read_text())
    assert sorted(summary["cases"]) == sorted(json.loads((preprocessed / "splits_final.json").read_text())[4]["val"])
    assert not list(output.rglob(".*.tmp*"))  # no half-written files left by either process


def test_compiled_training_matches_eager_training(spine):
    preprocessed, results = spine
    path = preprocessed / "plans.json"
    plans = json.loads(path.read_text())
    architecture = plans["configurations"]["2d"]["architecture"]
    for key in ("kernel_sizes", "strides", "features_per_stage"):
        architecture[key] = architecture[key][:2]  # compiling takes a while; keep the graph small
    path.write_text(json.dumps(plans))
    settings = dict(iterations_per_epoch=3, validation_iterations=1, num_workers=0)
    eager = load_checkpoint(train_fold(preprocessed, results, "2d", fold="0", settings=small(1, **settings)) / "checkpoint_final.pt")
    compiled = load_checkpoint(
        train_fold(preprocessed, results / "compiled", "2d", fold="0", settings=small(1, compile=True, **settings)) / "checkpoint_final.pt"
    )
    assert compiled["network"].keys() == eager["network"].keys()  # plain names, loadable without compiling
    assert compiled["log"][0]["train_loss"] == pytest.approx(eager["log"][0]["train_loss"], rel=1e-3)
