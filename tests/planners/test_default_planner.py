import numpy as np
import pytest

from autoseg.errors import AutosegError
from autoseg.networks import network_for
from planners import get_planner
from planners.default import DEFAULT, mirror_axes

from .conftest import make_fingerprint, make_spec

plan = get_planner("default")


def test_isotropic_ct_uses_median_spacing_and_ct_normalisation(rng):
    spacings = [(s, s, s) for s in rng.uniform(0.7, 1.0, 20)]
    fingerprint = make_fingerprint(spacings, [(160, 160, 160)] * 20)
    plans = plan(fingerprint, make_spec(), gpu_memory_gb=8)
    config = plans.configurations["3d_fullres"]
    assert config.spacing == pytest.approx([np.median([s[0] for s in spacings])] * 3)
    assert plans.normalisation["0"].scheme == "ct" and plans.normalisation["0"].parameters["percentile_99_5"] == 1500.0
    assert config.estimated_memory_gb <= 8 and config.batch_size >= 2
    assert set(plans.configurations) >= {"2d", "3d_fullres"}


def test_anisotropic_mr_takes_a_lower_percentile_on_the_coarse_axis():
    spacings = [(z, 0.7, 0.7) for z in np.linspace(3.0, 6.0, 11)]
    fingerprint = make_fingerprint(spacings, [(24, 320, 320)] * 11, channel_names=("T2",))
    assert DEFAULT.target_spacing(fingerprint)[0] == pytest.approx(np.percentile(np.linspace(3.0, 6.0, 11), 10))
    plans = plan(fingerprint, make_spec(channel_names=("T2",)), gpu_memory_gb=8)
    fullres = plans.configurations["3d_fullres"]
    assert fullres.architecture.kernel_sizes[0][0] == 1  # no convolution across thick slices at full resolution
    assert plans.configurations["2d"].slice_axis == 0
    assert plans.normalisation["0"].scheme == "zscore"


def test_2d_dataset_gets_only_2d():
    fingerprint = make_fingerprint([(0.5, 0.5)] * 5, [(512, 512)] * 5, channel_names=("gray",))
    plans = plan(fingerprint, make_spec(channel_names=("gray",), ndim_ending=".png"), gpu_memory_gb=8)
    assert list(plans.configurations) == ["2d"]
    assert plans.normalisation["0"].scheme == "rgb"
    assert max(plans.configurations["2d"].architecture.features_per_stage) == 512


def test_tiny_images_use_the_whole_image_as_patch():
    fingerprint = make_fingerprint([(1.0, 1.0, 1.0)] * 5, [(12, 20, 16)] * 5)
    config = plan(fingerprint, make_spec(), gpu_memory_gb=8).configurations["3d_fullres"]
    assert all(p >= s for p, s in zip(config.patch_size, (12, 20, 16)))
    assert all(p <= 2 * s for p, s in zip(config.patch_size, (12, 20, 16)))


def test_huge_images_shrink_the_patch_to_the_budget_and_get_a_lowres_stage():
    fingerprint = make_fingerprint([(0.8, 0.8, 0.8)] * 10, [(500, 512, 512)] * 10)
    plans = plan(fingerprint, make_spec(), gpu_memory_gb=8)
    fullres = plans.configurations["3d_fullres"]
    assert np.prod(fullres.patch_size) < 0.25 * 500 * 512 * 512
    assert fullres.estimated_memory_gb <= 8
    lowres = plans.configurations["3d_lowres"]
    assert all(lo > hi for lo, hi in zip(lowres.spacing, fullres.spacing))
    assert np.prod(lowres.patch_size) >= 0.25 * np.prod(lowres.median_shape)


def test_more_memory_gives_a_larger_patch_or_batch():
    fingerprint = make_fingerprint([(0.8, 0.8, 0.8)] * 10, [(500, 512, 512)] * 10)
    small = plan(fingerprint, make_spec(), gpu_memory_gb=4).configurations["3d_fullres"]
    large = plan(fingerprint, make_spec(), gpu_memory_gb=24).configurations["3d_fullres"]
    assert np.prod(large.patch_size) * large.batch_size > np.prod(small.patch_size) * small.batch_size
    for config, budget in ((small, 4), (large, 24)):
        estimate = network_for(config.architecture).memory(
            config.architecture, config.patch_size, in_channels=1, out_channels=3, batch_size=config.batch_size, mixed_precision=True
        )
        assert estimate.total_gb <= budget


def test_batch_covers_at_most_5_percent_of_the_dataset():
    fingerprint = make_fingerprint([(1.0, 1.0)] * 4000, [(64, 64)] * 4000, channel_names=("MR",))
    config = plan(fingerprint, make_spec(channel_names=("MR",)), gpu_memory_gb=80).configurations["2d"]
    assert config.batch_size * np.prod(config.patch_size) <= 0.05 * 4000 * 64 * 64
    few = make_fingerprint([(1.0, 1.0)] * 3, [(64, 64)] * 3, channel_names=("MR",))
    assert plan(few, make_spec(channel_names=("MR",)), gpu_memory_gb=80).configurations["2d"].batch_size == 2


def test_impossible_budget_is_a_clear_error():
    fingerprint = make_fingerprint([(1.0, 1.0, 1.0)] * 3, [(64, 64, 64)] * 3)
    with pytest.raises(AutosegError, match="--gpu_memory_gb"):
        plan(fingerprint, make_spec(), gpu_memory_gb=0.01)


def test_left_right_pairs_block_mirroring_on_their_axis_only(rng):
    labels = {"background": 0, "paraspinal_left": 1, "paraspinal_right": 2, "psoas": 3}
    centroids = [
        {
            "1": [0.4 + rng.normal(0, 0.03), 0.25 + rng.normal(0, 0.03)],
            "2": [0.4 + rng.normal(0, 0.03), -0.25 + rng.normal(0, 0.03)],
            "3": [0.0, 0.0],
        }
        for _ in range(10)
    ]
    fingerprint = make_fingerprint([(1.0, 1.0)] * 10, [(128, 128)] * 10, channel_names=("MR",), centroids=centroids)
    spec = make_spec(labels=labels, channel_names=("MR",))
    assert mirror_axes(fingerprint, spec) == [0]
    # By name alone: left/right tokens pair the labels even if their other coordinates differ.
    offset = [{"1": [0.6, 0.3], "2": [0.0, -0.3], "3": [0.0, 0.0]} for _ in range(10)]
    assert mirror_axes(make_fingerprint([(1.0, 1.0)] * 10, [(128, 128)] * 10, ("MR",), centroids=offset), spec) == [0]
    # A one-sided organ (liver-like) or structures on both sides in random cases do not block mirroring.
    scattered = [{"1": [0.0, 0.5], "2": [0.0, float(rng.choice([-0.5, 0.5]))], "3": [0.0, 0.0]} for _ in range(10)]
    neutral = make_spec(labels={"background": 0, "liver": 1, "tumour": 2, "vessel": 3}, channel_names=("MR",))
    assert mirror_axes(make_fingerprint([(1.0, 1.0)] * 10, [(128, 128)] * 10, ("MR",), centroids=scattered), neutral) == [0, 1]


def test_spine_stand_in_plans_keep_left_and_right_apart(stand_in_cache):
    from autoseg.dataset import RawDataset
    from autoseg.fingerprint import compute_fingerprint

    dataset = RawDataset(stand_in_cache("spine", cases=6, test=0))
    plans = plan(compute_fingerprint(dataset, num_processes=1), dataset.spec, gpu_memory_gb=8)
    assert plans.configurations["2d"].mirror_axes == [0]  # never flip across the patient's left-right axis


def test_classification_and_regression_plans(stand_in_cache):
    from autoseg.dataset import RawDataset
    from autoseg.fingerprint import compute_fingerprint

    ad = RawDataset(stand_in_cache("ad", cases=6, test=0))
    plans = plan(compute_fingerprint(ad, num_processes=1), ad.spec, gpu_memory_gb=8)
    assert list(plans.configurations) == ["3d_fullres"] and plans.normalisation["0"].scheme == "pet"
    pet = RawDataset(stand_in_cache("pet", cases=3, test=0))
    plans = plan(compute_fingerprint(pet, num_processes=1), pet.spec, gpu_memory_gb=8)
    assert plans.target_normalisation["0"].scheme == "scale" and plans.target_normalisation["0"].parameters["mean"] > 0
