"""The mixed-precision path of every task kind, run on the CPU in bfloat16.

On a GPU, training and prediction compute under float16 autocast. CI has no
GPU, so these tests switch the CPU's policy to bfloat16 autocast (coarser
still than float16) and check what autocast can break: outputs that must stay
float32, losses, the regression input skip, weights kept in float32, and
predictions equal to the float32 ones within the precision.
"""

import csv
import json
import re
from dataclasses import replace

import pytest
import torch

from autoseg import device as devices
from autoseg.dataset import RawDataset
from autoseg.inference.sliding_window import sliding_window_predict
from autoseg.networks import Architecture, UNet
from autoseg.training import train_fold, trainer_settings
from autoseg.training.budget import NNUNET
from autoseg.training.checkpoint import load_checkpoint
from tests.conftest import preprocess_with_tiny_network
from tests.training.conftest import small

CPU = torch.device("cpu")


@pytest.fixture
def bfloat16(monkeypatch):
    monkeypatch.setitem(devices.MIXED_PRECISION, "cpu", torch.bfloat16)


def test_the_policy_switches_autocast_and_scaling(bfloat16):
    with devices.autocast(CPU):
        assert torch.nn.functional.linear(torch.ones(2, 3), torch.ones(4, 3)).dtype == torch.bfloat16
    assert not devices.needs_gradient_scaling(CPU)  # bfloat16 has float32's range
    assert devices.needs_gradient_scaling(torch.device("cuda"))


def test_the_input_skip_is_added_in_float32_under_autocast(bfloat16):
    """The skip carries the whole low-dose image; rounded to 8 bits of mantissa it would cap PSNR near 50 dB."""
    architecture = Architecture([4, 8, 16], [[3, 3, 3]] * 3, [[1, 1, 1], [2, 2, 2], [2, 2, 2]])
    network = UNet(1, 1, architecture, {0: (0, 1.7, 0.3)})
    network.zero_heads()
    x = 100 + torch.rand(2, 1, 8, 8, 8)
    with devices.autocast(CPU):
        full, half = network(x)
    assert full.dtype == half.dtype == torch.float32
    torch.testing.assert_close(full, 1.7 * x + 0.3, rtol=1e-6, atol=0)


def test_sliding_window_prediction_under_autocast_matches_float32(bfloat16):
    torch.manual_seed(0)
    architecture = Architecture([8, 16, 32], [[3, 3, 3]] * 3, [[1, 1, 1], [2, 2, 2], [2, 2, 2]])
    network = UNet(2, 3, architecture).eval()
    image = torch.randn(2, 20, 24, 20)
    options = dict(patch_size=[16, 16, 16], out_channels=3, mirror_axes=[0, 2], tile_batch_size=2)
    mixed = sliding_window_predict(network, image, **options)
    devices.MIXED_PRECISION.pop("cpu")
    exact = sliding_window_predict(network, image, **options)
    assert mixed.dtype == torch.float32 and mixed.shape == exact.shape == (3, 20, 24, 20)
    assert not torch.equal(mixed, exact)  # autocast did compute in bfloat16
    assert (mixed - exact).abs().max() < 0.05 * exact.std()
    assert (mixed.argmax(0) == exact.argmax(0)).float().mean() > 0.97


def test_segmentation_trains_in_mixed_precision_like_float32(spine, bfloat16):
    preprocessed, results = spine
    nnunet = dict(**NNUNET)  # SGD at 1e-2: a large first step, where bfloat16 rounding would show
    fold = train_fold(preprocessed, results / "mixed", "2d", fold="0", settings=small(3, **nnunet))
    state = load_checkpoint(fold / "checkpoint_final.pt")
    assert all(tensor.dtype == torch.float32 for tensor in state["network"].values() if tensor.is_floating_point())
    losses = [record["train_loss"] for record in state["log"]]
    assert losses[-1] < 0.85 * losses[0]
    summary = json.loads((fold / "validation" / "summary.json").read_text())
    assert all(0 <= scores["dice"] <= 1 for scores in summary["mean"].values())

    devices.MIXED_PRECISION.pop("cpu")  # the same first epoch in float32: same seed, same batches
    exact = load_checkpoint(
        train_fold(preprocessed, results / "exact", "2d", fold="0", settings=small(1, **nnunet)) / "checkpoint_final.pt"
    )
    assert state["log"][0]["train_loss"] == pytest.approx(exact["log"][0]["train_loss"], rel=0.03)


def test_regression_keeps_the_low_dose_input_exact_in_mixed_precision(pet_tiny, tmp_path, bfloat16):
    dataset, preprocessed = pet_tiny
    settings = replace(trainer_settings("short"), epochs=1, iterations_per_epoch=2, validation_iterations=1, num_workers=0)
    fold = train_fold(preprocessed, tmp_path / "results", "3d_fullres", fold="2", settings=settings, trainer="short")
    summary = json.loads((fold / "validation" / "summary.json").read_text())
    target = next(iter(dataset.spec.targets.values()))
    assert re.search(r"val loss [0-9.]+", (fold / "training_log.txt").read_text())
    # Two steps from zeroed heads, the model is still about its input skip, as in float32 (tests/inference/test_regression.py).
    assert summary["mean"][target]["psnr"] == pytest.approx(summary["baseline"]["mean"][target]["psnr"], abs=0.5)


def test_classification_trains_and_validates_in_mixed_precision(stand_in_cache, tmp_path, bfloat16):
    dataset = RawDataset(stand_in_cache("tumour2d", 24, 0))
    preprocessed = preprocess_with_tiny_network(dataset, tmp_path / "preprocessed" / dataset.name, "2d")
    settings = replace(trainer_settings("short"), epochs=1, iterations_per_epoch=3, validation_iterations=1, num_workers=0)
    fold = train_fold(preprocessed, tmp_path / "results", "2d", fold="0", settings=settings, trainer="short")
    splits = json.loads((preprocessed / "splits_final.json").read_text())
    rows = list(csv.DictReader((fold / "validation" / "predictions.csv").open()))
    assert sorted(row["case_id"] for row in rows) == sorted(splits[0]["val"])
    classes = list(dataset.spec.classes)
    for row in rows:
        assert sum(float(row[f"probability_{name}"]) for name in classes) == pytest.approx(1, abs=1e-5)
