"""`autoseg plan --target_spacing` re-plans around a spacing; `--plans_from` copies another dataset's network, patch
and spacing so that its weights fit, keeping this dataset's own normalisation and labels."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from autoseg.cli import main
from autoseg.dataset import RawDataset
from autoseg.plans import Plans
from autoseg.tasks import task_for
from autoseg.training.checkpoint import load_pretrained_weights, save_checkpoint


@pytest.fixture
def roots(stand_in_cache, tmp_path):
    """(raw root, preprocessed root) holding the BraTS (4 MRI channels, regions) and ISLES (6 perfusion maps) stand-ins,
    fingerprinted."""
    raw, preprocessed = tmp_path / "raw", tmp_path / "preprocessed"
    for key in ("brats", "isles"):
        source = stand_in_cache(key, 5, 1)
        shutil.copytree(source, raw / source.name)
        assert main(["fingerprint", "-d", source.name, "--raw", str(raw), "--preprocessed", str(preprocessed), "-np", "1"]) == 0
    return raw, preprocessed


def plan(roots, dataset, *options) -> int:
    raw, preprocessed = roots
    return main(["plan", "-d", dataset, "--raw", str(raw), "--preprocessed", str(preprocessed), *options])


def test_a_target_spacing_replans_patch_network_and_batch_around_it(roots, capsys):
    _, preprocessed = roots
    assert plan(roots, "902") == 0
    planned = Plans.load(preprocessed / "Dataset902_BraTS2019" / "plans.json").configuration("3d_fullres")
    assert not planned.spacing_overridden
    assert plan(roots, "902", "--target_spacing", "6", "6", "6") == 2
    assert "pass --overwrite to re-plan it at --target_spacing" in capsys.readouterr().err
    assert plan(roots, "902", "--target_spacing", "6", "6", "6", "--overwrite") == 0
    coarse = Plans.load(preprocessed / "Dataset902_BraTS2019" / "plans.json").configuration("3d_fullres")
    assert coarse.spacing == [6.0, 6.0, 6.0] and coarse.spacing_overridden
    assert coarse.median_shape == [round(m * p / 6) for m, p in zip(planned.median_shape, planned.spacing)]  # 3 mm -> 6 mm
    assert np.prod(coarse.patch_size) < np.prod(planned.patch_size) and coarse.architecture.num_stages < planned.architecture.num_stages
    assert json.loads((preprocessed / "Dataset902_BraTS2019" / "plans.json").read_text())["configurations"]["3d_fullres"][
        "spacing_overridden"
    ]
    assert plan(roots, "902", "--target_spacing", "6", "6", "--overwrite") == 2
    assert "give 3 positive spacings in mm, in array axis order (the dataset's median is 3, 3, 3)" in capsys.readouterr().err


def test_plans_from_another_dataset_keep_its_network_and_fit_its_weights(roots, tmp_path, capsys):
    _, preprocessed = roots
    assert plan(roots, "902") == 0
    assert plan(roots, "903") == 0
    assert plan(roots, "903", "--plans_from", "902") == 2  # the target's own plans.json exists
    assert "pass --overwrite to re-plan it from --plans_from" in capsys.readouterr().err
    assert plan(roots, "903", "--plans_from", "902", "--overwrite") == 0
    source = Plans.load(preprocessed / "Dataset902_BraTS2019" / "plans.json")
    moved = Plans.load(preprocessed / "Dataset903_ISLES2017" / "plans.json")
    assert moved.dataset == "Dataset903_ISLES2017" and moved.transferred_from == "Dataset902_BraTS2019/plans.json"
    for name, config in source.configurations.items():
        copied = moved.configurations[name]
        assert (copied.architecture, copied.patch_size, copied.spacing, copied.batch_size) == (
            config.architecture,
            config.patch_size,
            config.spacing,
            config.batch_size,
        )
    assert len(moved.normalisation) == 6 and moved.normalisation != source.normalisation  # ISLES's six maps, its statistics

    brats, isles = RawDataset(Path(roots[0]) / "Dataset902_BraTS2019"), RawDataset(Path(roots[0]) / "Dataset903_ISLES2017")
    architecture = source.configuration("3d_fullres").architecture
    pretrained = task_for(brats.spec).make_network(architecture)
    save_checkpoint(tmp_path / "brats.pt", {"network": pretrained.state_dict()})
    report = load_pretrained_weights(
        task_for(isles.spec).make_network(moved.configuration("3d_fullres").architecture), tmp_path / "brats.pt"
    )
    # everything fits but what depends on the channels (6 maps, not 4 MRI) and the classes: the first convolution and the heads
    heads = {name for name in report.skipped if name.startswith("heads.")}
    assert set(report.skipped) == {"encoder.stages.0.0.0.weight"} | heads and len(heads) == 2 * len(architecture.strides) - 2
