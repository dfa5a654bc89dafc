"""Image readers and writers, chosen by file ending, all returning one convention.

See :mod:`autoseg.io.geometry` for the axis order (stated there once).
"""

from autoseg.io.base import (
    IMAGE_IO,
    ImageIO,
    InvalidGeometry,
    atomic_write,
    file_ending,
    folder_reader,
    get_io,
    give_default_permissions,
    read_image,
    register_folder_reader,
    register_io,
    remove_leftovers,
    split_ending,
    supported_endings,
    write_image,
)
from autoseg.io.geometry import Geometry, ImageData

# Registration order sets the default backend per ending. nibabel comes first for
# NIfTI because ITK's NIfTI reader turns NaN into 0, hiding corrupt voxels; the
# two agree on arrays and geometry otherwise (tests/io).
from autoseg.io import nibabel_io, sitk_io, png_io, dicom  # noqa: E402,F401  isort: skip

__all__ = [
    "IMAGE_IO",
    "ImageIO",
    "InvalidGeometry",
    "Geometry",
    "ImageData",
    "atomic_write",
    "file_ending",
    "folder_reader",
    "give_default_permissions",
    "get_io",
    "read_image",
    "register_folder_reader",
    "register_io",
    "remove_leftovers",
    "split_ending",
    "supported_endings",
    "write_image",
]
