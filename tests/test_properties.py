"""Property-based tests: over random inputs rather than hand-picked ones (hypothesis, bounded examples).

Every reader/writer round-trips array and geometry (oblique and flipped directions, 2D and 3D); crop, resample
and the inverse return the original grid; every reversible normalisation scheme inverts; the sliding window
covers every voxel and its weights sum to one; Dice is symmetric and 1 on identical masks."""

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoseg.evaluation.metrics import segmentation_metrics
from autoseg.inference.sliding_window import sliding_window_predict
from autoseg.io import Geometry, ImageData, read_image, write_image
from autoseg.preprocessing.crop import bounding_box, crop, nonzero_mask
from autoseg.preprocessing.normalisation import SCHEMES
from autoseg.preprocessing.pipeline import CaseProperties, revert_to_original
from autoseg.preprocessing.resample import new_shape, resample_image, separate_axis

BOUNDED = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
unit = st.floats(-1.0, 1.0, allow_nan=False)


@st.composite
def geometries(draw, ndim: int) -> Geometry:
    """Random spacing and origin, and a random rotation (oblique) times random axis flips as the direction."""
    spacing = tuple(draw(st.floats(0.2, 6.0)) for _ in range(ndim))
    origin = tuple(draw(st.floats(-300.0, 300.0)) for _ in range(ndim))
    matrix = np.array([[draw(unit) for _ in range(ndim)] for _ in range(ndim)]) + 2 * np.eye(ndim)  # well conditioned
    rotation, upper = np.linalg.qr(matrix)
    rotation = rotation * np.sign(np.diag(upper))  # a proper rotation family, continuous in the drawn values
    flips = np.diag([draw(st.sampled_from([-1.0, 1.0])) for _ in range(ndim)])
    return Geometry(spacing, origin, tuple((rotation @ flips).ravel()))


@st.composite
def images(draw, ndim: int) -> ImageData:
    shape = tuple(draw(st.integers(2, 7)) for _ in range(ndim))
    seed = draw(st.integers(0, 2**16))
    array = np.random.default_rng(seed).normal(0, 100, (1, *shape)).astype(np.float32)
    return ImageData(array, draw(geometries(ndim)))


def assert_same(read: ImageData, written: ImageData) -> None:
    np.testing.assert_array_equal(read.array, written.array)
    assert read.geometry.differences(written.geometry, spacing_rtol=1e-5, origin_atol_mm=1e-3, direction_atol=1e-5) == []


@BOUNDED
@given(ndim=st.sampled_from([2, 3]), data=st.data())
def test_every_reader_and_writer_round_trips_array_and_geometry(tmp_path_factory, ndim, data):
    image = data.draw(images(ndim))
    folder = tmp_path_factory.mktemp("io")
    for ending, backend in ((".nii.gz", "simpleitk"), (".nii.gz", "nibabel"), (".nrrd", None), (".mha", None)):
        path = folder / f"image_{backend}{ending}"
        write_image(image, path, backend=backend)
        assert_same(read_image(path, backend=backend), image)


@BOUNDED
@given(shape=st.tuples(st.integers(2, 30), st.integers(2, 30)), seed=st.integers(0, 2**16), rgb=st.booleans())
def test_2d_natural_images_round_trip_their_values(tmp_path_factory, shape, seed, rgb):
    array = np.random.default_rng(seed).integers(0, 256, (3 if rgb else 1, *shape)).astype(np.uint8)
    image = ImageData(array, Geometry.identity((1.0, 1.0)))
    path = tmp_path_factory.mktemp("png") / "image.png"
    write_image(image, path)
    read = read_image(path)
    np.testing.assert_array_equal(read.array, array)
    assert read.geometry == image.geometry


@BOUNDED
@given(data=st.data(), ndim=st.sampled_from([2, 3]))
def test_crop_resample_and_the_inverse_return_the_original_grid_and_crop_box(data, ndim):
    shape = tuple(data.draw(st.integers(1, 14)) for _ in range(ndim))
    box = []
    for size in shape:  # a non-empty region holding the foreground
        start = data.draw(st.integers(0, size - 1))
        box.append((start, data.draw(st.integers(start + 1, size))))
    channels = np.zeros((1, *shape), dtype=np.float32)
    channels[(slice(None), *(slice(a, b) for a, b in box))] = data.draw(st.floats(0.5, 100.0))
    spacing = tuple(data.draw(st.floats(0.3, 5.0)) for _ in range(ndim))
    target_spacing = tuple(s * data.draw(st.floats(0.4, 2.5)) for s in spacing)

    found = bounding_box(nonzero_mask(channels))
    assert [tuple(b) for b in found] == box
    cropped = crop(channels, found)
    resampled_shape = new_shape(cropped.shape[1:], spacing, target_spacing)
    assert all(n == 1 for n, c in zip(resampled_shape, cropped.shape[1:]) if c == 1)  # one slice stays one slice
    resampled = resample_image(cropped, resampled_shape, separate_axis(spacing, target_spacing))
    geometry, crop_box = Geometry.identity(spacing).to_json(), [list(b) for b in found]
    properties = CaseProperties("case", geometry, list(shape), crop_box, list(cropped.shape[1:]), list(spacing))
    restored = revert_to_original(np.ones_like(resampled), properties, list(target_spacing), fill=0.0)
    assert restored.shape == channels.shape
    np.testing.assert_allclose(restored, (channels > 0).astype(np.float32), atol=1e-5)


REVERSIBLE = [name for name in SCHEMES.names() if SCHEMES.get(name).reversible]


@BOUNDED
@given(
    name=st.sampled_from(REVERSIBLE),
    seed=st.integers(0, 2**16),
    low=st.floats(-2000.0, 500.0),
    extent=st.floats(1.0, 5000.0),
    mean=st.floats(0.1, 500.0),
    std=st.floats(0.1, 500.0),
)
def test_every_reversible_normalisation_scheme_inverts(name, seed, low, extent, mean, std):
    scheme = SCHEMES.get(name)
    image = (low + extent * np.random.default_rng(seed).random((5, 6, 7))).astype(np.float32)
    if scheme.non_negative:
        image = np.abs(image)
    parameters = {"mean": mean, "std": std, "percentile_00_5": low, "percentile_99_5": low + extent}
    restored = scheme.restore(scheme.normalise(image, None, parameters), parameters)
    np.testing.assert_allclose(restored, image, rtol=1e-4, atol=1e-4 * (abs(low) + extent))


class Identity(torch.nn.Module):
    """Returns its input: the sliding window's blend of a constant-per-voxel prediction must give the input back."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x


@BOUNDED
@given(data=st.data(), ndim=st.sampled_from([2, 3]), step=st.floats(0.25, 1.0), mirror=st.booleans())
def test_the_sliding_window_covers_every_voxel_with_weights_summing_to_one(data, ndim, step, mirror):
    shape = [data.draw(st.integers(1, 17)) for _ in range(ndim)]
    patch = [data.draw(st.integers(2, 9)) for _ in range(ndim)]
    image = torch.from_numpy(np.random.default_rng(data.draw(st.integers(0, 2**16))).normal(size=(2, *shape)).astype(np.float32))
    mirror_axes = list(range(ndim)) if mirror else []
    output = sliding_window_predict(Identity(), image, patch, out_channels=2, step_size=step, mirror_axes=mirror_axes, device="cpu")
    assert output.shape == image.shape
    torch.testing.assert_close(output, image, rtol=1e-5, atol=1e-5)


@BOUNDED
@given(data=st.data(), ndim=st.sampled_from([2, 3]))
def test_dice_is_symmetric_and_one_on_identical_masks(data, ndim):
    shape = tuple(data.draw(st.integers(2, 9)) for _ in range(ndim))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    first, second = rng.random(shape) < data.draw(st.floats(0.05, 0.9)), rng.random(shape) < data.draw(st.floats(0.05, 0.9))
    spacing = tuple(data.draw(st.floats(0.3, 4.0)) for _ in range(ndim))
    forward, backward = segmentation_metrics(first, second, spacing), segmentation_metrics(second, first, spacing)
    for metric in ("dice", "iou"):  # NaN (both empty: nothing to score) equals NaN here
        np.testing.assert_equal(forward[metric], backward[metric])
    for metric in ("hd95", "assd"):  # the pooled distances are summed in the other order: equal to rounding
        np.testing.assert_allclose(forward[metric], backward[metric], rtol=1e-12, equal_nan=True)
    if first.any():
        assert segmentation_metrics(first, first, spacing)["dice"] == 1.0
        assert segmentation_metrics(first, first, spacing)["hd95"] == 0.0
