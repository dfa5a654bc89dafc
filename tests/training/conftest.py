"""The tiny spine stand-in every trainer test starts from, and short training settings."""

import json

import pytest

from autoseg.dataset import RawDataset
from autoseg.plan_and_preprocess import plan_and_preprocess
from autoseg.training import TrainingSettings


def shrink_plans(preprocessed):
    """Edit plans.json as a user with a small machine would: a small patch and network."""
    path = preprocessed / "plans.json"
    plans = json.loads(path.read_text())
    config = plans["configurations"]["2d"]
    config["patch_size"] = [64, 64]
    config["batch_size"] = 4
    for key in ("kernel_sizes", "strides"):
        config["architecture"][key] = config["architecture"][key][:4]
    config["architecture"]["features_per_stage"] = [8, 16, 32, 64]
    path.write_text(json.dumps(plans, indent=2))


@pytest.fixture
def spine(dataset_copy, tmp_path):
    dataset = RawDataset(dataset_copy("spine", cases=10, test=0))
    preprocessed = tmp_path / "preprocessed" / dataset.name
    plan_and_preprocess(dataset, preprocessed, num_processes=1)
    shrink_plans(preprocessed)
    return preprocessed, tmp_path / "results"


def small(epochs, **changes):
    return TrainingSettings(
        **{**dict(epochs=epochs, iterations_per_epoch=12, validation_iterations=2, checkpoint_every=1, num_workers=1), **changes}
    )
