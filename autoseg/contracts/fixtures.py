"""The stand-in data the contract tests train and plan on, built once per session with the project's own generators
(the test suite's conftest uses the same fixtures)."""

import json
import shutil
from pathlib import Path

import pytest

from dataset_conversion.synthetic import generate_stand_in


@pytest.fixture(scope="session")
def stand_in_cache(tmp_path_factory):
    """Returns a function ``(key, cases, test) -> pristine dataset folder`` (generated once; do not modify)."""
    root = tmp_path_factory.mktemp("stand_ins")
    made = {}

    def get(key: str, cases: int = 3, test: int = 1):
        if (key, cases, test) not in made:
            raw = root / f"{key}_{cases}_{test}"
            made[key, cases, test] = generate_stand_in(key, raw, num_cases=cases, num_test=test, seed=7)
        return made[key, cases, test]

    return get


def preprocessed_copy(stand_in_cache, root: Path, key: str, *, cases: int, test: int, configuration: str):
    """A modifiable copy of a stand-in under ``root/raw``, preprocessed into ``root/preprocessed`` with a
    tiny network (see ``preprocess_with_tiny_network``). Returns the RawDataset."""
    from autoseg.dataset import RawDataset

    source = stand_in_cache(key, cases, test)
    shutil.copytree(source, root / "raw" / source.name)
    dataset = RawDataset(root / "raw" / source.name)
    preprocess_with_tiny_network(dataset, root / "preprocessed" / dataset.name, configuration)
    return dataset


def preprocess_with_tiny_network(dataset, preprocessed: Path, configuration: str) -> Path:
    """Plans and preprocesses ``dataset`` for one configuration, then shrinks that configuration's network
    to 4, 8, 16, ... features (fast on a CPU). Returns the preprocessed folder."""
    from autoseg.plan_and_preprocess import plan_and_preprocess

    plan_and_preprocess(dataset, preprocessed, configurations=[configuration], num_processes=1)
    plans = json.loads((preprocessed / "plans.json").read_text())
    architecture = plans["configurations"][configuration]["architecture"]
    architecture["features_per_stage"] = [4 * 2**s for s in range(len(architecture["features_per_stage"]))]
    (preprocessed / "plans.json").write_text(json.dumps(plans))
    return preprocessed


@pytest.fixture(scope="session")
def pet_tiny(stand_in_cache, tmp_path_factory):
    """The PET stand-in (5 training cases, 1 test case) planned and preprocessed, with a tiny network
    in the plans: (raw dataset, preprocessed folder). Tests write plans under other names, never edit these."""
    from autoseg.dataset import RawDataset

    dataset = RawDataset(stand_in_cache("pet", 5, 1))
    return dataset, preprocess_with_tiny_network(dataset, tmp_path_factory.mktemp("pet") / dataset.name, "3d_fullres")
