import numpy as np
import pytest

from autoseg.data.sampling import CaseSampler, _crop_padded, sample_batch
from autoseg.dataset import RawDataset
from autoseg.plan_and_preprocess import plan_and_preprocess
from autoseg.preprocessing.storage import load_case


def test_crop_padded_pads_with_zeros_outside_the_image():
    array = np.arange(1, 13).reshape(1, 3, 4)
    patch = _crop_padded(array, [[-1, 3], [2, 6]])
    assert patch.shape == (1, 4, 4)
    np.testing.assert_array_equal(patch[0], [[0, 0, 0, 0], [3, 4, 0, 0], [7, 8, 0, 0], [11, 12, 0, 0]])


@pytest.fixture(scope="module")
def isles_preprocessed(stand_in_cache, tmp_path_factory):
    dataset = RawDataset(stand_in_cache("isles", cases=3, test=0))
    output = tmp_path_factory.mktemp("pre")
    plans = plan_and_preprocess(dataset, output, num_processes=1)
    return output / "3d_fullres", plans, [c.case_id for c in dataset.cases()]


def test_forced_patches_contain_foreground_and_random_ones_vary(isles_preprocessed):
    folder, plans, case_ids = isles_preprocessed
    patch_size = [8, 32, 32]
    sampler = CaseSampler(folder, case_ids, patch_size)
    rng = np.random.default_rng(0)
    for _ in range(20):
        patch = sampler.sample(rng, force_foreground=True)
        assert patch.data.shape[1:] == tuple(patch_size) and patch.target.shape == (1, *patch_size)
        assert patch.target.max() == 1
    small = CaseSampler(folder, case_ids, [2, 8, 8])
    random_hits = np.mean([small.sample(rng, force_foreground=False).target.max() for _ in range(40)])
    forced_hits = np.mean([small.sample(rng, force_foreground=True).target.max() for _ in range(40)])
    assert random_hits < 0.5 and forced_hits == 1.0  # lesions are small: unforced patches mostly miss them


def test_patch_larger_than_the_image_is_padded(isles_preprocessed):
    folder, _, case_ids = isles_preprocessed
    data, _, _ = load_case(folder, case_ids[0])
    patch_size = [data.shape[1] + 6, 16, 16]
    patch = CaseSampler(folder, case_ids, patch_size).sample(np.random.default_rng(1), force_foreground=False)
    assert patch.data.shape[1:] == tuple(patch_size)
    assert np.count_nonzero(np.all(patch.data == 0, axis=(0, 2, 3))) >= 6  # at least 6 padded slices


def test_2d_slices_of_3d_data(isles_preprocessed):
    folder, plans, case_ids = isles_preprocessed
    config = plans.configurations["2d"]
    sampler = CaseSampler(folder, case_ids, config.patch_size, slice_axis=config.slice_axis)
    patch = sampler.sample(np.random.default_rng(2), force_foreground=True)
    assert patch.data.shape[1:] == tuple(config.patch_size) and patch.target.max() == 1


def test_batches_are_seeded_and_a_third_is_forced(isles_preprocessed):
    folder, _, case_ids = isles_preprocessed
    sampler = CaseSampler(folder, case_ids, [8, 32, 32])
    first = sample_batch(sampler, 6, np.random.default_rng(5))
    again = sample_batch(sampler, 6, np.random.default_rng(5))
    np.testing.assert_array_equal(first["data"], again["data"])
    assert first["data"].shape == (6, 6, 8, 32, 32) and first["target"].shape == (6, 1, 8, 32, 32)
    assert all(t.max() == 1 for t in first["target"][-2:])
