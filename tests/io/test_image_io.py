import numpy as np
import pytest
import SimpleITK as sitk

from autoseg.errors import AutosegError
from autoseg.io import Geometry, ImageData, read_image, write_image


def oblique_geometry(ndim: int) -> Geometry:
    angle = 0.3
    if ndim == 3:
        rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
        return Geometry((3.0, 0.8, 0.7), (-12.5, 40.0, 7.25), tuple(rotation.ravel()))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return Geometry((0.9, 1.3), (5.0, -3.0), tuple(rotation.ravel()))


def assert_same_image(a: ImageData, b: ImageData) -> None:
    assert a.array.shape == b.array.shape
    np.testing.assert_array_equal(a.array, b.array)
    np.testing.assert_allclose(a.geometry.spacing, b.geometry.spacing, rtol=1e-6)
    np.testing.assert_allclose(a.geometry.origin, b.geometry.origin, atol=1e-4)
    np.testing.assert_allclose(a.geometry.direction, b.geometry.direction, atol=1e-6)


@pytest.mark.parametrize("ending", [".nii.gz", ".nii", ".nrrd", ".mha"])
@pytest.mark.parametrize("ndim", [2, 3])
def test_simpleitk_round_trip_preserves_array_and_geometry(tmp_path, ending, ndim):
    rng = np.random.default_rng(0)
    shape = (1, 5, 6, 7)[: ndim + 1]
    image = ImageData(rng.normal(size=shape).astype(np.float32), oblique_geometry(ndim))
    write_image(image, tmp_path / f"img{ending}")
    assert_same_image(read_image(tmp_path / f"img{ending}"), image)


@pytest.mark.parametrize("ndim", [2, 3])
def test_nibabel_round_trip_and_agreement_with_simpleitk(tmp_path, ndim):
    rng = np.random.default_rng(1)
    shape = (1, 4, 6, 9)[: ndim + 1]
    image = ImageData(rng.integers(0, 5, size=shape).astype(np.int16), oblique_geometry(ndim))
    write_image(image, tmp_path / "nib.nii.gz", backend="nibabel")
    assert_same_image(read_image(tmp_path / "nib.nii.gz", backend="nibabel"), image)
    # The same file read by the other library gives the same array and geometry.
    assert_same_image(read_image(tmp_path / "nib.nii.gz", backend="simpleitk"), image)
    write_image(image, tmp_path / "itk.nii.gz", backend="simpleitk")
    assert_same_image(read_image(tmp_path / "itk.nii.gz", backend="nibabel"), image)


def test_axis_order_is_numpy_order_of_simpleitk(tmp_path):
    itk_image = sitk.Image(7, 5, 3, sitk.sitkUInt8)  # size x=7, y=5, z=3
    itk_image.SetSpacing((0.5, 0.6, 2.0))
    itk_image.SetPixel(6, 1, 2, 9)  # (x, y, z)
    sitk.WriteImage(itk_image, str(tmp_path / "a.nii.gz"))
    for backend in ("simpleitk", "nibabel"):
        image = read_image(tmp_path / "a.nii.gz", backend=backend)
        assert image.array.shape == (1, 3, 5, 7)
        assert image.geometry.spacing == pytest.approx((2.0, 0.6, 0.5))
        assert image.array[0, 2, 1, 6] == 9


def test_4d_file_gives_channels(tmp_path):
    data = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)  # (t, z, y, x)
    volumes = []
    for volume in data:
        volumes.append(sitk.GetImageFromArray(volume))
        volumes[-1].SetSpacing((0.5, 0.6, 2.0))
    itk_image = sitk.JoinSeries(volumes)
    assert itk_image.GetDimension() == 4
    sitk.WriteImage(itk_image, str(tmp_path / "multi.nii.gz"))
    for backend in ("simpleitk", "nibabel"):
        image = read_image(tmp_path / "multi.nii.gz", backend=backend)
        assert image.array.shape == (2, 3, 4, 5)
        np.testing.assert_array_equal(image.array, data)
        assert image.geometry.spacing == pytest.approx((2.0, 0.6, 0.5))


def test_png_round_trip_gray_and_rgb(tmp_path):
    rng = np.random.default_rng(2)
    gray = ImageData(rng.integers(0, 256, size=(1, 12, 9)).astype(np.uint8), Geometry.identity((1.0, 1.0)))
    write_image(gray, tmp_path / "g.png")
    assert_same_image(read_image(tmp_path / "g.png"), gray)
    rgb = ImageData(rng.integers(0, 256, size=(3, 8, 10)).astype(np.uint8), Geometry.identity((1.0, 1.0)))
    write_image(rgb, tmp_path / "c.png")
    assert_same_image(read_image(tmp_path / "c.png"), rgb)
    wide = ImageData(np.array([[[0, 1000], [65535, 3]]]), Geometry.identity((1.0, 1.0)))
    write_image(wide, tmp_path / "w.png")
    np.testing.assert_array_equal(read_image(tmp_path / "w.png").array, wide.array)


def test_png_refuses_fractional_values_and_leaves_no_file(tmp_path):
    image = ImageData(np.full((1, 4, 4), 0.5, dtype=np.float32), Geometry.identity((1.0, 1.0)))
    with pytest.raises(AutosegError, match="integers only"):
        write_image(image, tmp_path / "f.png")
    assert list(tmp_path.iterdir()) == []


def test_jpeg_is_read_only(tmp_path):
    image = ImageData(np.zeros((1, 4, 4), np.uint8), Geometry.identity((1.0, 1.0)))
    with pytest.raises(AutosegError, match="lossy"):
        write_image(image, tmp_path / "x.jpg")


def test_corrupt_file_names_the_file(tmp_path):
    good = ImageData(np.ones((1, 8, 8, 8), np.float32), Geometry.identity((1.0, 1.0, 1.0)))
    write_image(good, tmp_path / "c.nii.gz")
    data = (tmp_path / "c.nii.gz").read_bytes()
    (tmp_path / "c.nii.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(AutosegError, match="c.nii.gz"):
        read_image(tmp_path / "c.nii.gz")


def test_unknown_ending_lists_supported(tmp_path):
    with pytest.raises(AutosegError, match="Supported endings"):
        read_image(tmp_path / "x.dcm")


def test_overwrite_is_atomic_on_failure(tmp_path):
    target = tmp_path / "keep.png"
    original = ImageData(np.full((1, 3, 3), 7, np.uint8), Geometry.identity((1.0, 1.0)))
    write_image(original, target)
    with pytest.raises(AutosegError):
        write_image(ImageData(np.full((1, 3, 3), -1.0), Geometry.identity((1.0, 1.0))), target)
    np.testing.assert_array_equal(read_image(target).array, original.array)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


def test_default_nifti_reader_keeps_nan(tmp_path):
    array = np.ones((1, 4, 4, 4), np.float32)
    array[0, 1, 2, 3] = np.nan
    write_image(ImageData(array, Geometry.identity((1.0, 1.0, 1.0))), tmp_path / "n.nii.gz")
    assert np.isnan(read_image(tmp_path / "n.nii.gz").array[0, 1, 2, 3])


def test_scaled_integer_nifti_reads_as_float32(tmp_path):
    import nibabel as nib

    stored = np.arange(24, dtype=np.int16).reshape(2, 3, 4)  # (x, y, z)
    image = nib.Nifti1Image(stored, np.eye(4))
    image.header.set_slope_inter(0.5, 10.0)
    nib.save(image, tmp_path / "scaled.nii.gz")
    loaded = read_image(tmp_path / "scaled.nii.gz")
    assert loaded.array.dtype == np.float32
    assert loaded.array[0, 2, 1, 0] == pytest.approx(10.0 + 0.5 * stored[0, 1, 2])
