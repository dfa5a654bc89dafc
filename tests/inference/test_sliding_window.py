import numpy as np
import pytest
import torch

from autoseg.inference import gaussian_importance, predict_slices, sliding_window_predict, tile_starts


class Identity(torch.nn.Module):
    """Output = input: a sliding window must then reproduce the image exactly."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x + 0 * self.dummy


class AddPosition(Identity):
    """Output = input + position along the last axis inside the tile: not mirror-equivariant."""

    def forward(self, x):
        ramp = torch.arange(x.shape[-1], dtype=x.dtype)
        return x + ramp + 0 * self.dummy


def test_tiles_cover_the_image_with_the_requested_overlap():
    for size, patch in ((100, 32), (32, 32), (33, 32), (20, 32)):
        starts = tile_starts(size, patch, 0.5)
        assert starts[0] == 0 and starts[-1] == max(0, size - patch)
        assert all(b - a <= patch * 0.5 for a, b in zip(starts, starts[1:]))


def test_gaussian_peaks_in_the_centre_and_is_never_zero():
    weights = gaussian_importance([9, 16])
    assert weights.max() == 1 and weights.min() > 0
    assert weights[4, 7] == weights.max() or weights[4, 8] == weights.max()


@pytest.mark.parametrize("shape, patch", [((2, 50, 37), [16, 16]), ((1, 10, 40, 9), [8, 16, 16]), ((3, 7, 7), [16, 16])])
def test_identity_network_reproduces_the_image(shape, patch):
    image = torch.randn(shape)
    result = sliding_window_predict(Identity(), image, patch, out_channels=shape[0], mirror_axes=list(range(len(patch))), tile_batch_size=3)
    assert result.shape == image.shape
    torch.testing.assert_close(result, image, atol=1e-5, rtol=1e-5)


def test_mirroring_averages_flipped_predictions():
    image = torch.zeros((1, 8, 8))
    plain = sliding_window_predict(AddPosition(), image, [8, 8], out_channels=1)
    mirrored = sliding_window_predict(AddPosition(), image, [8, 8], out_channels=1, mirror_axes=[1])
    np.testing.assert_allclose(plain[0, 0].numpy(), np.arange(8), atol=1e-5)
    np.testing.assert_allclose(mirrored[0].numpy(), 3.5, atol=1e-5)  # the ramp and its mirror average out
    untouched = sliding_window_predict(AddPosition(), image, [8, 8], out_channels=1, mirror_axes=[0])
    np.testing.assert_allclose(untouched.numpy(), plain.numpy(), atol=1e-5)  # flipping the other axis changes nothing here


class CountCalls(AddPosition):
    def __init__(self):
        super().__init__()
        self.batch_sizes = []

    def forward(self, x):
        self.batch_sizes.append(x.shape[0])
        return super().forward(x)


def test_2d_network_on_3d_volume_slice_by_slice():
    image = torch.randn((2, 5, 12, 10))
    result = predict_slices(Identity(), image, slice_axis=0, patch_size=[8, 8], out_channels=2)
    torch.testing.assert_close(result, image, atol=1e-5, rtol=1e-5)
    result = predict_slices(Identity(), image, slice_axis=2, patch_size=[8, 8], out_channels=2, tile_batch_size=7)
    torch.testing.assert_close(result, image, atol=1e-5, rtol=1e-5)


def test_batched_slices_equal_one_slice_at_a_time():
    image = torch.randn((1, 6, 8, 12))
    network = CountCalls()
    batched = predict_slices(network, image, slice_axis=0, patch_size=[8, 8], out_channels=1, mirror_axes=[1], tile_batch_size=8)
    assert network.batch_sizes == [8, 8, 4, 4]  # 6 slices x 2 tiles in batches of 8, each batch plain and mirrored
    one_by_one = torch.stack(
        [sliding_window_predict(AddPosition(), image[:, z], [8, 8], out_channels=1, mirror_axes=[1]) for z in range(6)], dim=1
    )
    torch.testing.assert_close(batched, one_by_one)
