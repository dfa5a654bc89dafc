import numpy as np
import pytest

from autoseg.data.augmentation import (
    is_anisotropic_patch,
    seed_augmentation,
    training_transforms,
)


def batch(shape, labels=3, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "data": rng.normal(size=(2, 2, *shape)).astype(np.float32),
        "seg": rng.integers(0, labels, size=(2, 1, *shape)).astype(np.float32),
    }


@pytest.mark.parametrize("shape", [(32, 24), (16, 20, 24), (4, 32, 32)])
def test_shapes_are_kept_and_labels_stay_labels(shape):
    transforms = training_transforms(list(shape), mirror_axes=list(range(len(shape))))
    np.random.seed(0)
    for _ in range(5):
        out = transforms(**batch(shape))
        assert out["data"].shape == (2, 2, *shape) and out["seg"].shape == (2, 1, *shape)
        assert set(np.unique(out["seg"])) <= {0.0, 1.0, 2.0}
        assert np.all(np.isfinite(out["data"]))


def test_mirroring_only_along_the_planned_axes():
    from batchgenerators.transforms.spatial_transforms import MirrorTransform

    pipeline = training_transforms([16, 16], mirror_axes=[0])
    mirror = [t for t in pipeline.transforms if isinstance(t, MirrorTransform)]
    assert len(mirror) == 1 and tuple(mirror[0].axes) == (0,)
    grid = np.arange(16 * 16, dtype=np.float32).reshape(1, 1, 16, 16)
    seed_augmentation(1)
    flipped_rows = 0
    for _ in range(30):
        out = mirror[0](data=grid.copy(), seg=grid.copy())["seg"][0, 0]
        assert np.all(np.diff(out, axis=1) > 0)  # left-right order is never reversed
        flipped_rows += bool(out[0, 0] > out[-1, 0])
    assert 0 < flipped_rows < 30  # the allowed axis is flipped about half the time


def test_the_same_seed_gives_the_same_batches_and_another_seed_others():
    transforms = training_transforms([16, 20, 24], mirror_axes=[0, 1, 2])
    seed_augmentation(7)
    first = [transforms(**batch((16, 20, 24)))["data"] for _ in range(4)]
    seed_augmentation(7)
    again = [transforms(**batch((16, 20, 24)))["data"] for _ in range(4)]
    seed_augmentation(99)
    other = [transforms(**batch((16, 20, 24)))["data"] for _ in range(4)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(first, other))


def test_anisotropic_patches_are_augmented_slice_by_slice():
    assert is_anisotropic_patch([4, 32, 32]) and not is_anisotropic_patch([16, 32, 32]) and not is_anisotropic_patch([8, 64])
    shape = (4, 32, 32)
    data = np.zeros((1, 1, *shape), np.float32)
    data[0, 0, 1] = 1.0  # one bright slice
    transforms = training_transforms(list(shape), mirror_axes=[])
    np.random.seed(3)
    for _ in range(10):
        out = transforms(data=data.copy(), seg=np.zeros((1, 1, *shape), np.float32))
        assert np.abs(out["data"][0, 0, [0, 2, 3]]).max() < 0.35  # nothing rotated across slices (noise aside)


def test_rotation_cannot_swap_left_and_right_when_an_axis_is_protected():
    from batchgenerators.transforms.spatial_transforms import SpatialTransform

    def angle_range(mirror_axes):
        spatial = next(t for t in training_transforms([32, 32], mirror_axes).transforms if isinstance(t, SpatialTransform))
        return spatial.angle_x

    assert angle_range([0, 1]) == pytest.approx((-np.pi, np.pi))  # nothing paired: any in-plane turn
    assert angle_range([0]) == pytest.approx((-np.pi / 6, np.pi / 6))
