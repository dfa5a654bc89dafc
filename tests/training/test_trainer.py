"""The trainer on a tiny 2D stand-in: loss falls, checkpoints are safe, and a killed run resumes exactly."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from autoseg.errors import AutosegError
from autoseg.training import poly_lr, train_fold, trainer_settings
from autoseg.training.budget import plan_optimisation
from autoseg.training.checkpoint import load_checkpoint, save_checkpoint
from autoseg.training.settings import check_resume, load_training_settings
from tests.training.conftest import small


def test_poly_schedule_and_output_scales():
    assert poly_lr(0.01, 0, 10) == 0.01 and poly_lr(0.01, 5, 10) == pytest.approx(0.01 * 0.5**0.9)
    from autoseg.networks import Architecture, get_network

    architecture = Architecture([4, 8, 16, 32], [[3, 3]] * 4, [[1, 1], [2, 2], [2, 1], [2, 2]])
    assert get_network("unet").output_scales(architecture) == [[1, 1], [2, 2], [4, 2]]


def test_loss_falls_and_checkpoints_are_written_safely(spine):
    preprocessed, results = spine
    output = train_fold(preprocessed, results, "2d", fold="0", settings=small(4))
    state = load_checkpoint(output / "checkpoint_final.pt")  # weights_only=True: no pickled code
    losses = [record["train_loss"] for record in state["log"]]
    assert losses[-1] < 0.85 * losses[0]
    assert (output / "checkpoint_best.pt").is_file() and not (output / "checkpoint_latest.pt").exists()
    assert len((output / "training_log.txt").read_text().splitlines()) == 4
    assert (output / "progress.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the optimisation planned for 48 iterations at batch 4 (tests/training/test_budget.py), recorded
    record = json.loads((output / "training_settings.json").read_text())
    assert (record["settings"]["optimiser"], record["settings"]["schedule"]) == ("adamw", "warmup_cosine")
    assert record["optimisation"].startswith("optimisation planned for 48 iterations (fewer than 50,000: a short run, batch 4)")
    # the same request resumes: planning is a pure function
    check_resume(output, load_training_settings(output), "default", plan_optimisation(small(4), 4)[0])
    splits = json.loads((preprocessed / "splits_final.json").read_text())
    assert len(splits) == 5 and sum(len(f["val"]) for f in splits) == 10
    with pytest.raises(AutosegError, match="already holds a finished training"):
        train_fold(preprocessed, results, "2d", fold="0", settings=small(4))


def test_bad_requests_are_refused(spine, tmp_path):
    preprocessed, results = spine
    with pytest.raises(AutosegError, match="fold must be 0-4 or 'all'"):
        train_fold(preprocessed, results, "2d", fold="7", settings=small(1))
    with pytest.raises(AutosegError, match="configuration '3d_fullres' is not in the plans"):
        train_fold(preprocessed, results, "3d_fullres", fold="0", settings=small(1))
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(AutosegError, match="not a readable autoseg checkpoint"):
        load_checkpoint(broken)


def _resume_command(preprocessed, results):
    """``autoseg train`` of fold 1 with --continue and no settings: they come from the fold's record."""
    return [sys.executable, "-m", "autoseg.cli", "train", str(preprocessed), "2d", "1", "--results", str(results), "--continue"]


def _train_command(preprocessed, results, epochs, *extra):
    return [
        *_resume_command(preprocessed, results)[:-1],
        "--epochs",
        str(epochs),
        "--iterations_per_epoch",
        "12",
        "--validation_iterations",
        "2",
        "--checkpoint_every",
        "100",
        "--checkpoint_minutes",
        "0",  # checkpoints by time only: at every epoch's end
        "--num_workers",
        "1",
        *extra,
    ]


def test_a_killed_run_resumed_with_continue_ends_with_the_same_weights(spine, tmp_path):
    preprocessed, results = spine
    env = dict(os.environ, OMP_NUM_THREADS="1")  # bit-identical arithmetic needs the same thread count
    subprocess.run(_train_command(preprocessed, tmp_path / "uninterrupted", 5), check=True, env=env, capture_output=True)
    process = subprocess.Popen(
        _train_command(preprocessed, results, 5), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    log = results / preprocessed.name / "default__plans__2d" / "fold_1" / "training_log.txt"  # trainer __ plans __ configuration
    deadline = time.time() + 120
    while time.time() < deadline and (not log.is_file() or len(log.read_text().splitlines()) < 2):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the trainer and its augmentation workers, mid-run
    process.wait()
    fold = log.parent
    assert not (fold / "checkpoint_final.pt").exists() and (fold / "checkpoint_latest.pt").is_file()
    resume = [*_resume_command(preprocessed, results), "--num_workers", "1"]
    refused = subprocess.run([*resume, "--epochs", "7"], env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and "epochs 5 -> 7" in refused.stderr
    subprocess.run(resume, check=True, env=env, capture_output=True)  # the rest of the settings from training_settings.json
    resumed = load_checkpoint(fold / "checkpoint_final.pt")
    reference = load_checkpoint(tmp_path / "uninterrupted" / preprocessed.name / "default__plans__2d" / "fold_1" / "checkpoint_final.pt")
    assert [r["epoch"] for r in resumed["log"]] == list(range(5))
    assert [line.split()[1] for line in log.read_text().splitlines()] == ["0", "1", "2", "3", "4"]
    for name, tensor in reference["network"].items():
        assert torch.equal(tensor, resumed["network"][name]), name


def test_ctrl_c_prints_one_line_and_leaves_a_run_to_continue(spine, tmp_path):
    preprocessed, _ = spine
    results = tmp_path / "results"
    process = subprocess.Popen(
        _train_command(preprocessed, results, 50),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a shell's background job would ignore Ctrl-C
    )
    log = results / preprocessed.name / "default__plans__2d" / "fold_1" / "training_log.txt"
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not (log.parent / "checkpoint_latest.pt").is_file():
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends: the trainer and its augmentation workers
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err  # none from the trainer, none from its workers
    assert err.count("interrupted") == 1 and "--continue" in err.strip().splitlines()[-1]
    assert (log.parent / "checkpoint_latest.pt").is_file()


def test_continue_with_nothing_to_resume_says_so_and_trains(spine, tmp_path, capsys):
    preprocessed, _ = spine
    output = train_fold(preprocessed, tmp_path / "results", "2d", fold="3", settings=small(1), resume=True)
    assert "nothing to resume" in capsys.readouterr().out
    assert (output / "checkpoint_final.pt").is_file()


def test_validation_exports_whole_cases_in_the_raw_geometry_and_scores_them(spine):
    from autoseg.io import read_image

    preprocessed, results = spine
    output = train_fold(preprocessed, results, "2d", fold="2", settings=small(1))
    summary = json.loads((output / "validation" / "summary.json").read_text())
    splits = json.loads((preprocessed / "splits_final.json").read_text())
    assert sorted(summary["cases"]) == sorted(splits[2]["val"])
    assert set(summary["mean"]) == {"paraspinal_left", "paraspinal_right", "psoas"}
    assert {"dice", "iou", "precision", "recall", "hd95", "assd"} <= set(summary["foreground_mean"])
    case = splits[2]["val"][0]
    exported = read_image(output / "validation" / f"{case}.nii.gz")
    reference = read_image(preprocessed / "gt" / f"{case}.nii.gz")
    assert exported.spatial_shape == reference.spatial_shape and exported.geometry == reference.geometry
    assert set(np.unique(exported.array)) <= {0, 1, 2, 3}
    (output / "validation" / "summary.json").unlink()
    train_fold(preprocessed, results, "2d", fold="2", settings=small(1), validation_only=True)
    assert json.loads((output / "validation" / "summary.json").read_text())["checkpoint"] == "checkpoint_final.pt"

    # --val_best predicts with checkpoint_best.pt: here one whose weights are all zero, so it finds nothing
    state = load_checkpoint(output / "checkpoint_final.pt")
    state["network"] = {name: torch.zeros_like(tensor) for name, tensor in state["network"].items()}
    save_checkpoint(output / "checkpoint_best.pt", state)
    train_fold(preprocessed, results, "2d", fold="2", settings=small(1), validation_only=True, validate_best=True)
    summary = json.loads((output / "validation" / "summary.json").read_text())
    assert summary["checkpoint"] == "checkpoint_best.pt" and summary["foreground_mean"]["dice"] == 0
    assert not read_image(output / "validation" / f"{case}.nii.gz").array.any()
    (output / "checkpoint_best.pt").unlink()
    with pytest.raises(AutosegError, match="checkpoint_best.pt does not exist: no epoch improved"):
        train_fold(preprocessed, results, "2d", fold="2", settings=small(1), validation_only=True, validate_best=True)


def test_trainer_variants_are_registered_presets(spine):
    from autoseg.training import TRAINERS

    assert {"default", "nnunet", "short", "mse", "l1_ssim", "ce_smooth"} <= set(TRAINERS.names())
    assert trainer_settings("default").optimiser == "auto" and trainer_settings("short").optimiser == "adam"
    with pytest.raises(AutosegError, match="unknown trainer 'fast'; known: ce_smooth, default, l1_ssim, mse, nnunet, short"):
        trainer_settings("fast")
    preprocessed, results = spine
    from dataclasses import replace

    output = train_fold(
        preprocessed,
        results,
        "2d",
        fold="3",
        settings=replace(trainer_settings("short"), epochs=2, iterations_per_epoch=5, validation_iterations=1, num_workers=0),
        trainer="short",
    )
    assert output.parent.name == "short__plans__2d" and (output / "checkpoint_final.pt").is_file()


def test_training_with_augmentation_on_the_device_learns(spine):
    preprocessed, results = spine
    output = train_fold(preprocessed, results / "device", "2d", fold="0", settings=small(4, augmentation="device"))
    losses = [record["train_loss"] for record in load_checkpoint(output / "checkpoint_final.pt")["log"]]
    assert losses[-1] < 0.8 * losses[0]
    with pytest.raises(AutosegError, match="augmentation must be auto, cpu or device"):
        train_fold(preprocessed, results, "2d", fold="1", settings=small(1, augmentation="gpu"))
