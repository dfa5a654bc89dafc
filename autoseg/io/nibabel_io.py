"""nibabel reader/writer for NIfTI, converting RAS voxel-order data to autoseg's convention.

This is the default NIfTI reader: unlike ITK's, it returns stored NaN values
unchanged, so verification can find them. nibabel returns data indexed ``[i, j, k]`` (x index first) with an affine to
RAS world coordinates; ITK (and autoseg) use LPS. The two world frames differ
by a sign on x and y, and the array is transposed to ``(z, y, x)``.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from autoseg.errors import AutosegError
from autoseg.io.base import ImageIO, register_io
from autoseg.io.geometry import Geometry, ImageData

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


@register_io
class NibabelIO(ImageIO):
    name = "nibabel"
    endings = (".nii.gz", ".nii")

    def read(self, path: Path) -> ImageData:
        return image_from_nibabel(nib.load(str(path)), str(path))

    def write(self, image: ImageData, path: Path) -> None:
        nib.save(image_to_nibabel(image), str(path))


def image_from_nibabel(image, where: str = "the nibabel image") -> ImageData:
    """A nibabel image (RAS affine, x index first) in autoseg's convention (LPS, NumPy axis order)."""
    data = np.asanyarray(image.dataobj)
    if data.dtype == np.float64 and image.get_data_dtype() != np.float64:
        data = data.astype(np.float32)  # integers stored with scl_slope: float32 is exact enough
    if data.ndim == 4:
        channels = np.moveaxis(data, 3, 0)
    elif data.ndim in (2, 3):
        channels = data[None]
    else:
        raise AutosegError(f"{where}: {data.ndim}D images are not supported; expected 2D or 3D (4D for channels).")
    ndim = channels.ndim - 1
    linear = image.affine[:3, :3]
    spacing_xyz = np.linalg.norm(linear, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero column or NaN: refused by read_image, naming the file
        direction_lps = _RAS_TO_LPS @ (linear / spacing_xyz)
        origin_lps = _RAS_TO_LPS @ image.affine[:3, 3]
    # Reverse the voxel axes: (C, i, j, k) -> (C, k, j, i).
    array = np.ascontiguousarray(np.transpose(channels, (0, *range(ndim, 0, -1))))
    geometry = Geometry(
        tuple(reversed(spacing_xyz[:ndim])),
        tuple(origin_lps[:ndim]),
        tuple(direction_lps[:ndim, :ndim].ravel()),
    )
    return ImageData(array, geometry)


def image_to_nibabel(image: ImageData):
    """The NIfTI image (nibabel) of ``image``, its qform and sform both set to the affine."""
    geometry = image.geometry
    ndim = geometry.ndim
    direction = np.eye(3)
    direction[:ndim, :ndim] = np.asarray(geometry.direction).reshape(ndim, ndim)
    spacing_xyz = np.ones(3)
    spacing_xyz[:ndim] = tuple(reversed(geometry.spacing))
    origin = np.zeros(3)
    origin[:ndim] = geometry.origin
    affine = np.eye(4)
    affine[:3, :3] = _RAS_TO_LPS @ direction @ np.diag(spacing_xyz)
    affine[:3, 3] = _RAS_TO_LPS @ origin
    array = image.array.astype(np.uint8) if image.array.dtype == bool else image.array
    data = np.transpose(array, (*range(ndim, 0, -1), 0))  # (C, z, y, x) -> (x, y, z, C)
    data = data[..., 0] if image.num_channels == 1 else data
    nifti = nib.Nifti1Image(np.ascontiguousarray(data), affine)
    nifti.set_qform(affine, code=1)
    nifti.set_sform(affine, code=1)
    return nifti
