"""SimpleITK reader/writer: NIfTI, NRRD, MetaImage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from autoseg.errors import AutosegError
from autoseg.io.base import ImageIO, register_io
from autoseg.io.geometry import Geometry, ImageData


@register_io
class SimpleITKIO(ImageIO):
    """Reads 2D/3D scalar or vector images; a 4D image's last ITK axis becomes the channel axis.

    Note: ITK's NIfTI reader replaces NaN with 0, which is why nibabel reads NIfTI by default.
    """

    name = "simpleitk"
    endings = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")

    def read(self, path: Path) -> ImageData:
        return image_from_sitk(sitk.ReadImage(str(path)), str(path))

    def write(self, image: ImageData, path: Path) -> None:
        sitk.WriteImage(image_to_sitk(image), str(path), useCompression=True)


def image_from_sitk(image: sitk.Image, where: str = "the SimpleITK image") -> ImageData:
    """A SimpleITK image in autoseg's convention: array (C, *spatial) in NumPy axis order, spacing in that order."""
    array = sitk.GetArrayFromImage(image)
    dim = image.GetDimension()
    spacing, origin, direction = image.GetSpacing(), image.GetOrigin(), image.GetDirection()
    if image.GetNumberOfComponentsPerPixel() > 1:
        array = np.moveaxis(array, -1, 0)
    elif dim == 4:
        # (t, z, y, x): the 4th ITK axis holds channels (e.g. Decathlon multi-modal files).
        direction = np.asarray(direction).reshape(4, 4)[:3, :3].ravel()
        spacing, origin, dim = spacing[:3], origin[:3], 3
    else:
        array = array[None]
    if dim not in (2, 3):
        raise AutosegError(f"{where}: {dim}D images are not supported; expected 2D or 3D (4D for channels).")
    return ImageData(array, Geometry(tuple(reversed(spacing)), tuple(origin), tuple(direction)))


def image_to_sitk(image: ImageData) -> sitk.Image:
    """The SimpleITK image of ``image`` (a vector image when it has several channels)."""
    array = image.array.astype(np.uint8) if image.array.dtype == bool else image.array
    if image.num_channels == 1:
        itk_image = sitk.GetImageFromArray(array[0])
    else:
        itk_image = sitk.GetImageFromArray(np.moveaxis(array, 0, -1), isVector=True)
    geometry = image.geometry
    itk_image.SetSpacing(tuple(reversed(geometry.spacing)))
    itk_image.SetOrigin(geometry.origin)
    itk_image.SetDirection(geometry.direction)
    return itk_image
