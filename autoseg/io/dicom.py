"""DICOM series input: a folder holding one series stands for one channel file (``imagesTs/CASE_0000/``).

The series is read with SimpleITK's GDCM series reader, slices ordered by
their position along the slice normal; geometry follows the DICOM patient
coordinate system, which is ITK's LPS world, like every other reader. Before
reading, the folder is checked: exactly one series, no two slices at one
position, no missing slice and an even slice spacing (a CT with a gap, or a
series from a scanner that skips slices, would otherwise be stretched
silently: ITK only warns). Rescale slope and intercept are applied (CT in HU).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from autoseg.errors import AutosegError
from autoseg.io.base import register_folder_reader
from autoseg.io.geometry import ImageData
from autoseg.io.sitk_io import image_from_sitk

DICOM_SERIES = "DICOM series"  # how a series folder's format is named where a file would name its ending
SLICE_SPACING_TOLERANCE = 0.01  # relative: a spacing 1 % off the median is uneven
_PREAMBLE = 128


def is_dicom_file(path: Path) -> bool:
    """Whether ``path`` is a DICOM Part 10 file (the "DICM" marker after the 128-byte preamble)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_PREAMBLE + 4)
    except OSError:
        return False
    return head[_PREAMBLE:] == b"DICM"


def is_dicom_series_folder(path: Path) -> bool:
    """Whether ``path`` is a folder whose first visible file is a DICOM file."""
    if not path.is_dir():
        return False
    first = next((p for p in sorted(path.iterdir()) if p.is_file() and not p.name.startswith(".")), None)
    return first is not None and is_dicom_file(first)


def series_files(folder: Path) -> list[Path]:
    """The files of the one series in ``folder``, ordered by slice position; refuses a folder holding no series,
    several series, two slices at one position, missing slices or an uneven slice spacing, naming it."""
    folder = Path(folder)
    ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    if not ids:
        raise AutosegError(f"{folder} holds no DICOM series; a channel folder holds the files of one series.")
    if len(ids) > 1:
        raise AutosegError(
            f"{folder} holds {len(ids)} DICOM series ({', '.join(ids[:4])}{' ...' if len(ids) > 4 else ''}); put each series in "
            "its own folder (one folder per channel, CASE_0000/, CASE_0001/, ...)."
        )
    files = [Path(name) for name in sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), ids[0])]
    return ordered_slices(files, folder)


def _slice_geometry(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(ImagePositionPatient, ImageOrientationPatient) of one DICOM file."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    try:
        position = np.array([float(v) for v in reader.GetMetaData("0020|0032").split("\\")])
        orientation = np.array([float(v) for v in reader.GetMetaData("0020|0037").split("\\")])
    except RuntimeError:
        raise AutosegError(
            f"{path} has no image position or orientation (0020,0032 / 0020,0037); it cannot be placed in a volume."
        ) from None
    return position, orientation


def ordered_slices(files: list[Path], folder: Path | str) -> list[Path]:
    """``files`` (one series) ordered by position along the slice normal, refused unless they make one evenly
    spaced volume (``folder``: how errors name the series)."""
    if len(files) < 2:
        return list(files)
    geometries = [_slice_geometry(path) for path in files]
    orientation = geometries[0][1]
    if any(not np.allclose(o, orientation, atol=1e-4) for _, o in geometries):
        raise AutosegError(f"{folder}: its slices are not all oriented alike (0020,0037 differs); it is not one volume.")
    normal = np.cross(orientation[:3], orientation[3:])
    positions = np.array([float(np.dot(p, normal)) for p, _ in geometries])
    order = np.argsort(positions, kind="stable")
    files, positions = [files[i] for i in order], positions[order]
    steps = np.diff(positions)
    if np.any(np.abs(steps) < 1e-4):
        twin = int(np.argmin(np.abs(steps)))
        raise AutosegError(
            f"{folder}: {files[twin].name} and {files[twin + 1].name} lie at the same position ({positions[twin]:.3f} mm along the "
            "slice normal); remove the duplicate slice or the second series."
        )
    median = float(np.median(np.abs(steps)))
    off = np.abs(np.abs(steps) - median) > SLICE_SPACING_TOLERANCE * median
    if off.any():
        first = int(np.argmax(off))
        ratio = abs(steps[first]) / median
        what = (
            f"{round(ratio) - 1} slice(s) missing"
            if ratio > 1.5 and abs(ratio - round(ratio)) < 0.1
            else f"uneven slice spacing ({abs(steps[first]):.3f} mm where the others are {median:.3f} mm)"
        )
        raise AutosegError(
            f"{folder}: {what} between {files[first].name} and {files[first + 1].name} (at {positions[first]:.3f} and "
            f"{positions[first + 1]:.3f} mm along the slice normal); complete the series or resample it to even spacing."
        )
    return files


def read_dicom_series(folder: Path) -> ImageData:
    """The volume of the one DICOM series in ``folder`` (see the module's description)."""
    return read_dicom_files(series_files(folder), folder)


def read_dicom_files(files: list[Path], where: Path | str) -> ImageData:
    """The volume of the slices ``files`` (one series, any order; ``where``: how errors name it), ordered and
    checked as ``series_files`` orders and checks a folder's."""
    files = ordered_slices(list(files), where)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(path) for path in files])
    try:
        image = reader.Execute()
    except RuntimeError as error:
        raise AutosegError(f"{where}: the DICOM series cannot be read ({str(error).strip().splitlines()[-1]}).") from None
    return image_from_sitk(image, str(where))


register_folder_reader(is_dicom_series_folder, read_dicom_series)


MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


# Patient, study and series attributes every image must carry, empty where unknown (DICOM type 2).
TYPE_2_ATTRIBUTES = ("PatientBirthDate", "PatientSex", "StudyDate", "StudyTime", "ReferringPhysicianName", "AccessionNumber")


def require_dicom_extra(what: str):
    """pydicom, or a clear error saying which extra installs it."""
    try:
        import pydicom
    except ImportError:
        raise AutosegError(f"{what} needs pydicom and highdicom: pip install 'autoseg[dicom]'.") from None
    return pydicom


def write_dicom_series(
    image: ImageData,
    folder: Path,
    *,
    modality: str = "MR",
    patient_id: str = "ANONYMOUS",
    study_uid: str | None = None,
    series_uid: str | None = None,
    series_description: str = "",
    series_number: int = 1,
) -> list[Path]:
    """Writes a one-channel 3D image as a classic DICOM series (MR or CT Image Storage, one file per slice,
    ``IM00001.dcm``, ...) into ``folder``, made atomically (it must not exist yet). Values are stored as signed
    16-bit integers, with a rescale slope and intercept where they are not whole numbers (to 1/60000 of their
    range): what scanners write, and what ``read_dicom_series`` reads back on the same grid. Needs the
    ``autoseg[dicom]`` extra (pydicom)."""
    pydicom = require_dicom_extra("writing a DICOM series")
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    if image.num_channels != 1 or image.geometry.ndim != 3:
        raise AutosegError(
            f"a DICOM series holds one 3D channel; this image has {image.num_channels} channel(s) of {image.geometry.ndim}D."
        )
    folder = Path(folder)
    if folder.exists():
        raise AutosegError(f"{folder} already exists; a DICOM series is written into a new folder.")
    array = image.array[0].astype(np.float64)
    low, high = float(array.min()), float(array.max())
    integral = bool(np.allclose(array, np.round(array))) and low >= -32768 and high <= 32767
    slope = 1.0 if integral else ((high - low) / 60000.0 or 1.0)
    intercept = 0.0 if integral else (low + high) / 2
    stored = np.round((array - intercept) / slope).astype(np.int16)
    geometry = image.geometry
    direction = np.asarray(geometry.direction).reshape(3, 3)
    study_uid, series_uid, frame_of_reference = study_uid or generate_uid(), series_uid or generate_uid(), generate_uid()
    sop_class = CT_IMAGE_STORAGE if modality == "CT" else MR_IMAGE_STORAGE
    staging = folder.with_name(f".{folder.name}.partial")
    staging.mkdir(parents=True)
    files = []
    for index, plane in enumerate(stored):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.SeriesDescription = modality, series_description
        ds.PatientName, ds.PatientID = f"{patient_id}^", patient_id  # family name only
        for keyword in TYPE_2_ATTRIBUTES:
            setattr(ds, keyword, "")
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_of_reference
        ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", series_number, index + 1
        ds.ImagePositionPatient = [float(v) for v in np.asarray(geometry.origin) + direction[:, 2] * geometry.spacing[0] * index]
        ds.ImageOrientationPatient = [float(v) for v in (*direction[:, 0], *direction[:, 1])]
        ds.PixelSpacing = [geometry.spacing[1], geometry.spacing[2]]  # row spacing (y), column spacing (x)
        ds.SliceThickness = ds.SpacingBetweenSlices = geometry.spacing[0]
        ds.RescaleIntercept, ds.RescaleSlope = f"{intercept:.10g}", f"{slope:.10g}"
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = plane.shape
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = plane.tobytes()
        files.append(folder / f"IM{index + 1:05d}.dcm")
        ds.save_as(staging / files[-1].name, enforce_file_format=True)
    staging.rename(folder)
    return files
