"""Converters from public dataset layouts into the raw format. Importing this package registers them all."""

from dataset_conversion.converters import brats, decathlon, dicom_folder, isles, nnunet, png_pairs  # noqa: F401
from dataset_conversion.converters.registry import Converter, convert_dataset, converters, get_converter

__all__ = ["Converter", "convert_dataset", "converters", "get_converter"]
