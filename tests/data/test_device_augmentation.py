"""The batched device augmentation on hand-built patches: exact geometry, labels stay labels, reproducible."""

import math

import pytest
import torch

from autoseg.data.device_augmentation import DeviceAugmenter, Probabilities

OFF = {
    name: 0.0
    for name in (
        "rotation",
        "scaling",
        "elastic",
        "noise",
        "blur",
        "brightness",
        "contrast",
        "low_resolution",
        "inverted_gamma",
        "gamma",
        "mirror",
    )
}


def only(**probabilities) -> Probabilities:
    return Probabilities(**{**OFF, **probabilities})


def quarter_turn(ndim: int, first: int, second: int) -> torch.Tensor:
    matrix = torch.eye(ndim, dtype=torch.float64)
    matrix[first, first], matrix[first, second], matrix[second, first], matrix[second, second] = 0, -1, 1, 0
    return matrix[None]


@pytest.mark.parametrize("patch, plane", [([8, 8], (0, 1)), ([4, 8, 8], (1, 2)), ([6, 6, 6], (0, 2))])
def test_a_quarter_turn_through_the_grid_is_exactly_rot90(patch, plane):
    augmenter = DeviceAugmenter(patch, [], probabilities=only())
    image = torch.arange(math.prod(patch), dtype=torch.float32).reshape(1, 1, *patch)
    grid = augmenter._grid(quarter_turn(len(patch), *plane), image.device)
    turned = torch.nn.functional.grid_sample(image, grid, mode="bilinear", align_corners=False)
    assert torch.allclose(turned, torch.rot90(image, -1, dims=(2 + plane[0], 2 + plane[1])), atol=1e-3)
    identity = augmenter._grid(torch.eye(len(patch), dtype=torch.float64)[None], image.device)
    assert torch.allclose(torch.nn.functional.grid_sample(image, identity, align_corners=False), image, atol=1e-3)


def test_labels_move_with_the_image_and_stay_labels():
    patch = [48, 48]
    labels = torch.zeros(6, 1, *patch, dtype=torch.int64)
    labels[:, 0, 10:30, 14:40] = 1
    labels[:, 0, 30:40, 5:20] = 2
    image = (labels == 1).float()
    augmenter = DeviceAugmenter(patch, [0, 1], probabilities=only(rotation=1.0, scaling=1.0, elastic=1.0, mirror=0.5))
    data, target = augmenter(image, labels, torch.Generator().manual_seed(0))
    assert target.dtype == torch.int64 and set(torch.unique(target).tolist()) <= {0, 1, 2}
    assert not torch.equal(target, labels)
    agreement = ((data > 0.5) == (target == 1)).float().mean()
    assert agreement > 0.97


def test_each_target_channel_moves_as_a_label_map_of_its_own():
    """Overlapping structures (one binary map each): every channel is transformed as it is alone."""
    patch = [40, 40]
    masks = torch.zeros(4, 2, *patch, dtype=torch.uint8)
    masks[:, 0, 8:30, 8:30] = 1
    masks[:, 1, 20:36, 20:36] = 1  # overlaps the first
    image = masks.sum(1, keepdim=True).float()
    augmenter = DeviceAugmenter(patch, [0, 1], probabilities=only(rotation=1.0, scaling=1.0, mirror=0.5))
    _, both = augmenter(image, masks, torch.Generator().manual_seed(3))
    for channel in range(2):
        _, alone = augmenter(image, masks[:, channel : channel + 1].clone(), torch.Generator().manual_seed(3))
        assert torch.equal(both[:, channel : channel + 1], alone)
    assert not torch.equal(both, masks) and (both[:, 0] & both[:, 1]).any()


def test_same_seed_same_batch_and_another_seed_another():
    patch = [16, 32, 32]
    augmenter = DeviceAugmenter(patch, [0, 1, 2])
    data, labels = torch.randn(8, 2, *patch), torch.randint(0, 3, (8, 1, *patch))
    first = augmenter(data, labels, torch.Generator().manual_seed(5))
    again = augmenter(data, labels, torch.Generator().manual_seed(5))
    other = augmenter(data, labels, torch.Generator().manual_seed(6))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])


def test_mirroring_only_along_planned_axes():
    patch = [6, 6]
    image = torch.arange(36.0).reshape(1, 1, 6, 6).repeat(16, 1, 1, 1)
    data, _ = DeviceAugmenter(patch, [1], probabilities=only(mirror=0.5))(image, None, torch.Generator().manual_seed(0))
    flipped = [torch.equal(d, image[0].flip(2)) for d in data]
    assert all(f or torch.equal(d, image[0]) for f, d in zip(flipped, data)) and 0 < sum(flipped) < 16


def test_anisotropic_patches_are_transformed_within_each_slice():
    patch = [12, 40, 40]
    slices = torch.arange(12.0).view(1, 1, 12, 1, 1).expand(4, 1, 12, 40, 40) + 1
    augmenter = DeviceAugmenter(patch, [1, 2], probabilities=only(rotation=1.0, scaling=1.0, elastic=1.0, blur=0.0))
    data, _ = augmenter(slices.clone(), None, torch.Generator().manual_seed(1))
    # Each voxel is its slice's value times an in-plane weight (below 1 only where zero padding enters):
    # the same weight on every slice means nothing moved between slices.
    weights = data / slices
    assert not torch.allclose(weights, torch.ones_like(weights))
    assert torch.allclose(weights, weights[:, :, :1].expand_as(weights), atol=1e-4)


def test_intensity_transforms_keep_their_promises():
    image = torch.rand(32, 2, 24, 24) * 3 + 2
    brighter, _ = DeviceAugmenter([24, 24], [], probabilities=only(brightness=1.0))(image, None, torch.Generator().manual_seed(0))
    ratios = (brighter / image).flatten(2)
    assert (
        torch.allclose(ratios.amin(2), ratios.amax(2), rtol=1e-4)
        and ((ratios[..., 0] >= 0.75 - 1e-5) & (ratios[..., 0] <= 1.25 + 1e-5)).all()
    )
    contrasted, _ = DeviceAugmenter([24, 24], [], probabilities=only(contrast=1.0))(image, None, torch.Generator().manual_seed(0))
    assert (contrasted.flatten(2).amin(2) >= image.flatten(2).amin(2) - 1e-5).all() and (
        contrasted.flatten(2).amax(2) <= image.flatten(2).amax(2) + 1e-5
    ).all()
    gamma, _ = DeviceAugmenter([24, 24], [], probabilities=only(gamma=1.0))(image, None, torch.Generator().manual_seed(0))
    assert torch.allclose(gamma.flatten(2).mean(2), image.flatten(2).mean(2), atol=1e-3) and not torch.allclose(gamma, image)
    constant = torch.full((4, 1, 16, 16, 16), 2.0)
    blurred, _ = DeviceAugmenter([16, 16, 16], [], probabilities=only(blur=1.0, blur_per_channel=1.0))(
        constant, None, torch.Generator().manual_seed(0)
    )
    assert torch.allclose(blurred, constant, atol=1e-5)  # a normalised kernel with edge padding keeps a constant
    smooth = torch.randn(4, 1, 16, 16, 16)
    blurred, _ = DeviceAugmenter([16, 16, 16], [], probabilities=only(blur=1.0, blur_per_channel=1.0))(
        smooth, None, torch.Generator().manual_seed(0)
    )
    assert (blurred.std() < 0.7 * smooth.std()) and torch.allclose(blurred.mean(), smooth.mean(), atol=0.05)
    noisy, _ = DeviceAugmenter([24, 24], [], probabilities=only(noise=1.0))(image, None, torch.Generator().manual_seed(0))
    std = (noisy - image).flatten(1).std(1)
    assert (std <= 0.1 + 0.01).all() and std.max() > 0.02
    coarse, _ = DeviceAugmenter([24, 24], [], probabilities=only(low_resolution=1.0, low_resolution_per_channel=1.0))(
        image, None, torch.Generator().manual_seed(0)
    )
    assert (coarse - image).abs().mean() > 0.1 and coarse.shape == image.shape
