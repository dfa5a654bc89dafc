"""2D natural-image formats through scikit-image (spacing 1, origin 0, identity direction)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage import io as skio

from autoseg.errors import AutosegError
from autoseg.io.base import ImageIO, register_io
from autoseg.io.geometry import Geometry, ImageData


@register_io
class NaturalImage2DIO(ImageIO):
    """Grayscale files give one channel, RGB files three (an alpha channel is dropped).

    JPEG is read but never written, since it is lossy.
    """

    name = "skimage"
    endings = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg")
    writable_endings = (".png", ".bmp", ".tif", ".tiff")

    def read(self, path: Path) -> ImageData:
        data = skio.imread(str(path))
        if data.ndim == 2:
            array = data[None]
        elif data.ndim == 3 and data.shape[-1] in (3, 4):
            array = np.moveaxis(data[..., :3], -1, 0)
        else:
            raise AutosegError(f"{path}: expected a 2D grayscale or RGB image, got an array of shape {data.shape}.")
        return ImageData(np.ascontiguousarray(array), Geometry.identity((1.0, 1.0)))

    def write(self, image: ImageData, path: Path) -> None:
        if image.geometry.ndim != 2 or image.num_channels not in (1, 3):
            raise AutosegError(f"{path}: only 2D images with 1 or 3 channels can be written as {path.suffix}.")
        array = image.array
        if array.dtype == bool:
            array = array.astype(np.uint8)
        if not np.issubdtype(array.dtype, np.integer):
            if not np.all(np.isfinite(array)) or not np.array_equal(array, np.round(array)):
                raise AutosegError(f"{path}: {path.suffix} stores integers only; this image has fractional values. Write NIfTI instead.")
        low, high = (array.min(), array.max()) if array.size else (0, 0)
        if low < 0 or high > 65535:
            raise AutosegError(f"{path}: values {low}..{high} do not fit {path.suffix} (0..65535). Write NIfTI instead.")
        dtype = np.uint8 if high <= 255 else np.uint16
        data = array[0] if image.num_channels == 1 else np.moveaxis(array, 0, -1)
        skio.imsave(str(path), data.astype(dtype), check_contrast=False)
