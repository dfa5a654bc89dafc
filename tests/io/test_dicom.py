"""DICOM series as channel folders: read on the grid they were written on, and refused when they are not one volume."""

import math
import shutil

import numpy as np
import pydicom
import pytest

from autoseg.dataset import RawDataset, verify_dataset
from autoseg.errors import AutosegError
from autoseg.fingerprint import compute_fingerprint
from autoseg.io import Geometry, ImageData, read_image, write_image
from autoseg.io.dicom import write_dicom_series

ANGLE = 0.3
OBLIQUE = Geometry(
    (3.0, 0.8, 0.9), (10.0, -20.0, 5.0), (math.cos(ANGLE), -math.sin(ANGLE), 0, math.sin(ANGLE), math.cos(ANGLE), 0, 0, 0, 1)
)


def volume(seed=0, shape=(7, 20, 24)) -> ImageData:
    return ImageData(np.random.default_rng(seed).normal(100, 30, (1, *shape)).astype(np.float32), OBLIQUE)


def test_a_series_reads_back_on_its_grid_with_its_values(tmp_path):
    image = volume()
    write_dicom_series(image, tmp_path / "case_0000", modality="MR")
    read = read_image(tmp_path / "case_0000")
    assert read.geometry.differences(OBLIQUE) == [] and read.spatial_shape == image.spatial_shape
    np.testing.assert_allclose(read.array, image.array, atol=(image.array.max() - image.array.min()) / 30000)
    ct = ImageData(np.random.default_rng(1).integers(-1000, 2000, (1, 5, 8, 9)).astype(np.int16), OBLIQUE)
    write_dicom_series(ct, tmp_path / "ct_0000", modality="CT")
    np.testing.assert_array_equal(read_image(tmp_path / "ct_0000").array, ct.array)  # Hounsfield units exactly


def test_the_slices_are_ordered_by_position_not_by_file_name(tmp_path):
    image = volume()
    files = write_dicom_series(image, tmp_path / "case_0000")
    for path in files:  # names no longer follow the slice order
        path.rename(path.with_name(f"{pydicom.dcmread(path).SOPInstanceUID[-12:]}.dcm"))
    np.testing.assert_allclose(read_image(tmp_path / "case_0000").array, image.array, atol=0.01)


def test_a_folder_that_is_not_one_even_series_is_refused_naming_it(tmp_path):
    files = write_dicom_series(volume(), tmp_path / "gap")
    files[3].unlink()
    with pytest.raises(AutosegError, match=r"gap: 1 slice\(s\) missing between IM00003.dcm and IM00005.dcm"):
        read_image(tmp_path / "gap")

    files = write_dicom_series(volume(), tmp_path / "uneven")
    moved = pydicom.dcmread(files[-1])
    moved.ImagePositionPatient = [float(v) for v in np.asarray(moved.ImagePositionPatient) + [0, 0, 1.0]]
    moved.save_as(files[-1])
    with pytest.raises(AutosegError, match=r"uneven: uneven slice spacing \(4.000 mm where the others are 3.000 mm\)"):
        read_image(tmp_path / "uneven")

    write_dicom_series(volume(), tmp_path / "two")
    write_dicom_series(volume(1), tmp_path / "other")
    for path in (tmp_path / "other").iterdir():
        shutil.move(path, tmp_path / "two" / f"b_{path.name}")
    with pytest.raises(AutosegError, match=r"two holds 2 DICOM series .* put each series in its own folder"):
        read_image(tmp_path / "two")

    files = write_dicom_series(volume(), tmp_path / "twice")
    twin = pydicom.dcmread(files[2])
    twin.SOPInstanceUID = twin.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    twin.save_as(tmp_path / "twice" / "copy.dcm")
    with pytest.raises(AutosegError, match="twice: .* lie at the same position"):
        read_image(tmp_path / "twice")


def test_a_raw_dataset_with_dicom_channel_folders_verifies_and_reads_like_its_nifti(tmp_path):
    root = tmp_path / "Dataset950_Dicom"
    labels = np.zeros((1, 7, 20, 24), np.uint8)
    labels[0, 2:5, 5:12, 6:14] = 1
    for index in range(2):
        write_dicom_series(volume(index), root / "imagesTr" / f"case{index}_0000")
        write_image(ImageData(labels, OBLIQUE), root / "labelsTr" / f"case{index}.nii.gz")
    (root / "imagesTr" / "notes_0001").mkdir()  # named as a channel, holds no series
    (root / "dataset.json").write_text(
        '{"channel_names": {"0": "T1"}, "labels": {"background": 0, "lesion": 1}, "numTraining": 2, "file_ending": ".nii.gz"}'
    )
    report = verify_dataset(root)
    assert any("notes_0001: is a folder but holds no DICOM files" in str(p) for p in report.problems)
    (root / "imagesTr" / "notes_0001").rmdir()
    report = verify_dataset(root)
    assert report.ok, report.problems
    [first, _] = RawDataset(root).cases()
    assert first.image_files == [root / "imagesTr" / "case0_0000"]
    np.testing.assert_allclose(read_image(first.image_files[0]).array, volume(0).array, atol=0.01)
    fingerprint = compute_fingerprint(RawDataset(root), num_processes=1)
    np.testing.assert_allclose(fingerprint.spacings, [OBLIQUE.spacing] * 2)
    assert fingerprint.intensity_statistics["0"].mean == pytest.approx(100, abs=5)  # the series values, rescaled
