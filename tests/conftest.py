"""Shared fixtures: tiny stand-in datasets built once per session with the project's own generators."""

import json
import shutil
from pathlib import Path

import pytest

from autoseg.contracts.fixtures import preprocess_with_tiny_network, preprocessed_copy  # noqa: F401  (helpers tests import)

pytest_plugins = ["autoseg.contracts.fixtures"]  # stand_in_cache, pet_tiny: shared with the shipped contract tests


@pytest.fixture
def dataset_copy(stand_in_cache, tmp_path):
    """Returns a function giving a fresh, modifiable copy of a tiny stand-in dataset."""

    def copy(key: str, cases: int = 3, test: int = 1):
        source = stand_in_cache(key, cases, test)
        target = tmp_path / "raw" / source.name
        shutil.copytree(source, target)
        return target

    return copy


def shrink_plans_file(path: Path, configuration: str) -> None:
    """Edits a plans file as a user with a small machine would: a 64 x 64 patch, batch 2, a 3-stage network
    with 8, 16, 32 features (keeping the plans' network, block type and blocks per stage)."""
    plans = json.loads(path.read_text())
    config = plans["configurations"][configuration]
    config["patch_size"], config["batch_size"] = [64, 64], 2
    architecture = config["architecture"]
    for key in ("kernel_sizes", "strides"):
        architecture[key] = architecture[key][:3]
    architecture["features_per_stage"] = [8, 16, 32]
    if architecture.get("n_blocks_per_stage"):
        architecture["n_blocks_per_stage"] = architecture["n_blocks_per_stage"][:3]
    path.write_text(json.dumps(plans, indent=2))


TINY_TRAINING = dict(epochs=1, iterations_per_epoch=3, validation_iterations=1, num_workers=0)


def train(preprocessed: Path, results: Path, configuration: str) -> Path:
    """Fold 0 of ``configuration`` trained for three iterations with the short trainer; returns the fold folder."""
    from dataclasses import replace

    from autoseg.training import train_fold, trainer_settings

    settings = replace(trainer_settings("short"), **TINY_TRAINING)
    return train_fold(preprocessed, results, configuration, fold="0", settings=settings, trainer="short")


@pytest.fixture(scope="session")
def spine(stand_in_cache, tmp_path_factory):
    """A 2D segmentation model (spine stand-in, fold 0, tiny network) and its raw dataset, trained once per session
    (tests only read it)."""
    from autoseg.dataset import RawDataset

    root = tmp_path_factory.mktemp("spine_model")
    dataset = RawDataset(stand_in_cache("spine", 5, 2))
    fold = train(preprocess_with_tiny_network(dataset, root / "preprocessed" / dataset.name, "2d"), root / "results", "2d")
    return fold.parent, dataset


@pytest.fixture(scope="session")
def brats_model(stand_in_cache, tmp_path_factory):
    """A 3D four-channel segmentation model (BraTS stand-in, regions, fold 0, tiny network) and its raw dataset,
    trained once per session (tests only read it)."""
    from autoseg.dataset import RawDataset

    root = tmp_path_factory.mktemp("brats_model")
    dataset = RawDataset(stand_in_cache("brats", 5, 1))
    fold = train(preprocess_with_tiny_network(dataset, root / "preprocessed" / dataset.name, "3d_fullres"), root / "results", "3d_fullres")
    return fold.parent, dataset
