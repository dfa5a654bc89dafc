import numpy as np
import pytest

from autoseg.data.loader import BatchRecipe, BatchStream, make_batch
from autoseg.dataset import RawDataset
from autoseg.plan_and_preprocess import plan_and_preprocess


@pytest.fixture(scope="module")
def recipe(stand_in_cache, tmp_path_factory):
    dataset = RawDataset(stand_in_cache("spine", cases=4, test=0))
    output = tmp_path_factory.mktemp("pre")
    plans = plan_and_preprocess(dataset, output, num_processes=1)
    config = plans.configurations["2d"]
    return BatchRecipe(
        str(output / "2d"),
        tuple(c.case_id for c in dataset.cases()),
        tuple(config.patch_size),
        3,
        tuple(config.mirror_axes),
        config.slice_axis,
        True,
        True,
        seed=11,
    )


def test_batches_do_not_depend_on_worker_count(recipe):
    with BatchStream(recipe, 0, 4, num_workers=0) as serial:
        expected = list(serial)
    with BatchStream(recipe, 0, 4, num_workers=2, prefetch=2) as parallel:
        got = list(parallel)
    assert len(got) == 4
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a["data"], b["data"])
        np.testing.assert_array_equal(a["target"], b["target"])
    assert expected[0]["data"].shape == (3, 2, *recipe.patch_size) and expected[0]["target"].shape == (3, 1, *recipe.patch_size)
    assert not np.array_equal(expected[0]["data"], expected[1]["data"])


def test_a_resumed_stream_continues_with_the_same_batches(recipe):
    with BatchStream(recipe, 0, 5, num_workers=1) as full:
        whole = list(full)
    with BatchStream(recipe, 3, 5, num_workers=1) as resumed:
        tail = list(resumed)
    for a, b in zip(whole[3:], tail):
        np.testing.assert_array_equal(a["data"], b["data"])


def test_unaugmented_batches_hold_the_stored_values(recipe):
    from dataclasses import replace

    plain = make_batch(replace(recipe, augment=False), 0)
    assert set(np.unique(plain["target"])) <= {0, 1, 2, 3}
    assert plain["target"][-1].max() > 0  # the forced-foreground sample


HOOKED_TRAINER = '''
"""A trainer whose CPU augmentation zeroes the images: proof that its hook runs in the loader's workers."""

from batchgenerators.transforms.abstract_transforms import AbstractTransform, Compose

from autoseg.training import Trainer, register_trainer


class Blackout(AbstractTransform):
    def __call__(self, **batch):
        batch["data"] = batch["data"] * 0
        return batch


@register_trainer("blackout")
class BlackoutTrainer(Trainer):
    """Zeroes every training image (a test of the augmentation hook)."""

    @classmethod
    def training_transforms(cls, patch_size, mirror_axes, target_is_label):
        return Compose([Blackout()])
'''


def test_a_plugin_trainers_transforms_hook_runs_in_the_loader_workers(recipe, tmp_path, monkeypatch):
    from dataclasses import replace

    from autoseg import plugins
    from autoseg.training import get_trainer
    from autoseg.training.trainer import TRAINERS, _hook_reference

    monkeypatch.setattr(TRAINERS, "_items", dict(TRAINERS._items))  # the plug-in's trainer is gone after the test
    (tmp_path / "blackout_plugin.py").write_text(HOOKED_TRAINER)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUTOSEG_PLUGINS", "blackout_plugin")
    monkeypatch.setattr(plugins, "_state", {"loaded": False, "loading": False, "error": None, "modules": []})
    hooked = replace(recipe, transforms=_hook_reference(get_trainer("blackout"), "training_transforms"))
    assert hooked.transforms == ("blackout_plugin", "BlackoutTrainer.training_transforms")
    with BatchStream(hooked, 0, 2, num_workers=1) as batches:  # a worker process finds the hook by name
        for batch in batches:
            assert not batch["data"].any() and batch["target"].any()
