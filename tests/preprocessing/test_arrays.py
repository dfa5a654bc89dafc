"""Crop, resample and normalise on small hand-made arrays with known answers."""

import numpy as np
import pytest
from scipy import ndimage

from autoseg.errors import AutosegError
from autoseg.plans import ChannelNormalisation
from autoseg.preprocessing.crop import bounding_box, crop, nonzero_mask, uncrop
from autoseg.preprocessing.normalisation import get_scheme, normalise_channels, restore_targets, scheme_for_channel
from autoseg.preprocessing.resample import new_shape, resample_image, resample_label, separate_axis


def test_crop_and_uncrop_round_trip():
    array = np.zeros((2, 8, 7))
    array[1, 2:6, 1:6] = 5
    array[1, 3, 3] = 0  # a hole inside the region is kept in the mask
    mask = nonzero_mask(array)
    box = bounding_box(mask)
    assert box == [(2, 6), (1, 6)] and mask[3, 3]
    cropped = crop(array, box)
    assert cropped.shape == (2, 4, 5)
    np.testing.assert_array_equal(uncrop(cropped, box, (8, 7)), array)
    assert bounding_box(np.zeros((3, 4), bool)) == [(0, 3), (0, 4)]


def test_new_shape_keeps_the_physical_extent():
    assert new_shape((10, 100, 100), (5.0, 1.0, 1.0), (2.5, 2.0, 2.0)) == (20, 50, 50)
    assert separate_axis((6.5, 2.0, 2.0), (6.5, 2.0, 2.0)) == 0
    assert separate_axis((1.0, 1.0, 1.0), (2.0, 2.0, 2.0)) is None


def test_image_resampling_preserves_smooth_content():
    z, y, x = np.meshgrid(np.linspace(0, 1, 12), np.linspace(0, 1, 20), np.linspace(0, 1, 16), indexing="ij")
    image = (3 * x + 2 * y - z)[None].astype(np.float32)
    up = resample_image(image, (24, 40, 32))
    back = resample_image(up, (12, 20, 16))
    assert up.shape == (1, 24, 40, 32) and up.dtype == np.float32
    np.testing.assert_allclose(back, image, atol=0.05)


def test_label_resampling_keeps_values_and_shapes():
    label = np.zeros((1, 20, 20), np.uint8)
    label[0, 5:15, 5:10] = 1
    label[0, 5:15, 10:15] = 4
    assert set(np.unique(resample_label(label, (10, 10)))) == {0, 1, 4}
    up = resample_label(label, (30, 30))  # finer grid and back: nothing may be lost
    back = resample_label(up, (20, 20))
    np.testing.assert_array_equal(back, label)


def _one_hot_resampling(label, shape, axis):
    """The definition the fast label resampling must equal: each label's one-hot map interpolated linearly
    (nearest across slices where an axis is apart), the highest score winning, the lowest label on a tie."""
    best, out = np.full(shape, -1.0, np.float32), np.zeros(shape, label.dtype)
    for value in np.unique(label):
        score = (label == value).astype(np.float32)
        if axis is None:
            score = ndimage.zoom(score, np.divide(shape, label.shape), order=1, mode="nearest", grid_mode=True)
        else:
            within = [n if a == axis else m for a, (n, m) in enumerate(zip(label.shape, shape))]
            score = np.moveaxis(
                np.stack(
                    [
                        ndimage.zoom(plane, np.divide(np.delete(within, axis), plane.shape), order=1, mode="nearest", grid_mode=True)
                        for plane in np.moveaxis(score, axis, 0)
                    ]
                ),
                0,
                axis,
            )
            score = ndimage.zoom(score, np.divide(shape, score.shape), order=0, mode="nearest", grid_mode=True)
        better = score > best
        out[better], best[better] = value, score[better]
    return out


def test_label_resampling_equals_interpolating_each_label_one_hot():
    rng = np.random.default_rng(0)
    for trial in range(150):
        ndim = 2 + trial % 2
        source = tuple(int(n) for n in rng.integers(1, 14, size=ndim))
        coarse = rng.integers(0, 5, size=tuple(max(1, n // 3) for n in source)).astype(np.uint8)
        label = ndimage.zoom(coarse, np.divide(source, coarse.shape), order=0, grid_mode=True, mode="nearest")  # blobs
        if trial % 5 == 0:
            label = rng.integers(0, 4, size=source).astype(np.uint8)  # all boundary
        shape = tuple(max(1, int(round(n * f))) for n, f in zip(source, rng.choice([0.33, 0.5, 0.7, 1.0, 1.3, 2.0, 2.5], size=ndim)))
        axis = int(rng.integers(0, 3)) if ndim == 3 and trial % 3 == 0 else None
        np.testing.assert_array_equal(
            resample_label(label[None], shape, axis)[0],
            _one_hot_resampling(label, shape, axis),
            err_msg=f"{source} -> {shape}, axis {axis}",
        )


def test_each_channel_of_a_label_target_is_resampled_as_its_own_map():
    masks = np.zeros((2, 20, 20), np.uint8)
    masks[0, 4:16, 4:16] = 1
    masks[1, 10:18, 10:18] = 1  # overlaps the first: no single label map holds both
    resampled = resample_label(masks, (30, 30))
    assert resampled.shape == (2, 30, 30) and resampled.dtype == np.uint8
    for channel in range(2):
        np.testing.assert_array_equal(resampled[channel], resample_label(masks[channel : channel + 1], (30, 30))[0])
    assert (resampled[0] & resampled[1]).any()


def test_large_volumes_are_resampled_in_slabs_equal_to_the_whole_volume_zoom(monkeypatch):
    """Above SLAB_VOXELS output voxels the spline resampling runs slab by slab (bounded memory for a whole-body CT):
    equal to scipy's whole-volume zoom within float32 rounding, slab edges and volume edges included."""
    from autoseg.preprocessing import resample

    rng = np.random.default_rng(0)
    volume = (ndimage.gaussian_filter(rng.normal(size=(37, 30, 26)), 1.5) * 300 + rng.normal(size=(37, 30, 26)) * 20).astype(np.float32)
    for shape in ((61, 21, 40), (19, 30, 26), (37, 45, 13)):
        whole = ndimage.zoom(volume, np.divide(shape, volume.shape), order=3, mode="nearest", grid_mode=True)
        monkeypatch.setattr(resample, "SLAB_VOXELS", shape[1] * shape[2] * 4)  # slabs of 4 output slices
        slabs = resample_image(volume[None], shape)[0]
        monkeypatch.setattr(resample, "SLAB_VOXELS", 2**24)
        np.testing.assert_allclose(slabs, whole, rtol=0, atol=1e-6 * np.abs(whole).max())
        assert slabs.dtype == np.float32 and (slabs != whole).mean() < 0.01


def test_anisotropic_upsampling_uses_nearest_across_slices():
    image = np.zeros((1, 3, 8, 8), np.float32)
    image[0, 1] = 10.0
    up = resample_image(image, (6, 8, 8), axis=0)
    assert set(np.unique(up)) == {0.0, 10.0}  # no invented in-between slices
    assert np.all(up[0, 2] == 10.0) and np.all(up[0, 3] == 10.0)


def test_normalisation_schemes():
    image = np.array([[-2000.0, 0.0, 40.0, 3000.0]])
    ct = get_scheme("ct").normalise(image, None, {"mean": 40.0, "std": 10.0, "percentile_00_5": -100.0, "percentile_99_5": 200.0})
    np.testing.assert_allclose(ct, [[-14.0, -4.0, 0.0, 16.0]])
    masked = get_scheme("zscore").normalise(np.array([[0.0, 2.0, 4.0]]), np.array([[False, True, True]]), {})
    np.testing.assert_allclose(masked, [[0.0, -1.0, 1.0]])
    pet = get_scheme("pet").normalise(np.array([0.0, 5.0, 20.0]), None, {"mean": 5.0})
    np.testing.assert_allclose(pet, [0.0, 1.0, 4.0])
    for name, parameters in (("scale", {"mean": 7.0}), ("zscore_dataset", {"mean": -3.0, "std": 2.0})):
        values = np.array([[0.0, 1.5, 30.0]], np.float32)
        scheme = get_scheme(name)
        np.testing.assert_allclose(scheme.restore(scheme.normalise(values, None, parameters), parameters), values, rtol=1e-6)


def test_scheme_chosen_from_channel_name_and_unknown_scheme_named():
    assert [scheme_for_channel(n) for n in ("CT", "ct", "PET", "FDG_PET", "T1", "petal", "rgb", "noNorm")] == [
        "ct",
        "ct",
        "pet",
        "pet",
        "zscore",
        "zscore",
        "rgb",
        "noNorm",
    ]
    with pytest.raises(AutosegError, match="unknown normalisation scheme 'fancy'.*known: ct"):
        normalise_channels(np.zeros((1, 2, 2)), np.ones((2, 2), bool), {"0": ChannelNormalisation("fancy")})
    with pytest.raises(AutosegError, match="cannot be undone"):
        restore_targets(np.zeros((1, 2)), {"0": ChannelNormalisation("zscore")})


def test_fill_holes_matches_scipy():
    from scipy import ndimage

    from autoseg.preprocessing.crop import fill_holes

    rng = np.random.default_rng(3)
    for shape in ((30, 40), (12, 20, 18)):
        mask = ndimage.binary_opening(rng.random(shape) > 0.35)
        np.testing.assert_array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))
        framed = np.ones(shape, bool)  # a border without background (a CT's air): every background voxel is a hole
        inside = tuple(slice(1, -1) for _ in shape)
        framed[inside] = mask[inside]
        assert not framed.all() and fill_holes(framed).all()
        np.testing.assert_array_equal(fill_holes(framed), ndimage.binary_fill_holes(framed))
        scattered = rng.random(shape) > 0.01  # few background voxels, some on the border, some in touching runs
        scattered[(slice(0, 3),) * len(shape)] = False
        np.testing.assert_array_equal(fill_holes(scattered), ndimage.binary_fill_holes(scattered))
    assert fill_holes(np.ones((3, 3), bool)).all() and not fill_holes(np.zeros((3, 3), bool)).any()
