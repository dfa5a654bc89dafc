"""Sampled voxel positions and centroids, against their whole-array definitions."""

import numpy as np

from autoseg.statistics import centroid_in_box, sample_voxels


def test_sampled_voxels_are_what_argwhere_gives_for_the_same_draw():
    rng = np.random.default_rng(0)
    for trial in range(120):
        shape = tuple(int(n) for n in rng.integers(1, 9, size=1 + trial % 3))
        mask = rng.random(shape) < rng.random()
        count = int(rng.integers(1, 30))
        expected = np.argwhere(mask)
        if len(expected) > count:
            expected = expected[np.sort(np.random.default_rng(trial).choice(len(expected), count, replace=False))]
        sampled = sample_voxels(mask, count, np.random.default_rng(trial))
        assert sampled.dtype == np.int32 and len(sampled) == min(count, mask.sum())
        np.testing.assert_array_equal(sampled, expected)


def test_centroid_is_the_mean_voxel_position_within_the_box():
    mask = np.zeros((5, 6, 7), bool)
    mask[1, 2, 3] = mask[3, 2, 5] = True
    np.testing.assert_allclose(centroid_in_box(mask, [(0, 5), (0, 6), (1, 7)]), [0.0, 2 * 2 / 5 - 1, 2 * (4 - 1) / 5 - 1])
