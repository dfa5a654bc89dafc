"""Folders of 2D image / mask pairs (PNG, BMP, TIFF, JPEG images) to the raw format.

Source layout: ``images/`` and ``masks/`` (or ``labels/``) with one mask per
image, matched by file name without ending; an optional ``test/`` folder of
images without masks gives test cases. RGB images become three channel files
(red, green, blue). Masks must be single-channel; their distinct values,
sorted, become the labels 0, 1, 2, ... (so a 0/255 mask becomes 0/1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autoseg.errors import AutosegError
from autoseg.io import ImageData, file_ending, read_image
from dataset_conversion.converters.registry import register_converter
from dataset_conversion.raw_writer import RawCase, write_raw_dataset

_IMAGE_ENDINGS = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg")


def _images_in(folder: Path) -> dict[str, Path]:
    found = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith(".") and path.name.lower().endswith(_IMAGE_ENDINGS):
            found[path.name[: -len(file_ending(path))]] = path
    return found


def _mask_values(mask: ImageData, path: Path) -> np.ndarray:
    array = mask.array
    if mask.num_channels == 3 and np.array_equal(array[0], array[1]) and np.array_equal(array[0], array[2]):
        array = array[:1]
    if array.shape[0] != 1:
        raise AutosegError(f"{path}: colour-coded masks are not supported; save masks as single-channel images with one value per class.")
    return array


@register_converter("png_pairs", "2D image/mask pairs in images/ and masks/ folders", "PNGPairs")
def convert_png_pairs(source: Path, raw_root: Path, dataset_id: int, name: str, overwrite: bool = False) -> Path:
    images_dir = source / "images"
    masks_dir = next((source / n for n in ("masks", "labels") if (source / n).is_dir()), None)
    if not images_dir.is_dir() or masks_dir is None:
        raise AutosegError(f"{source}: expected the folders images/ and masks/ (or labels/).")
    images, masks = _images_in(images_dir), _images_in(masks_dir)
    unmatched = sorted(set(images) ^ set(masks))
    if unmatched:
        raise AutosegError(f"{source}: these names have an image or a mask but not both: {', '.join(unmatched[:10])}.")
    if not images:
        raise AutosegError(f"{images_dir}: no images found ({', '.join(_IMAGE_ENDINGS)}).")
    mask_arrays = {stem: _mask_values(read_image(path), path) for stem, path in masks.items()}
    values = np.unique(np.concatenate([np.unique(a) for a in mask_arrays.values()]))
    if values[0] != 0:
        raise AutosegError(f"{masks_dir}: no mask contains the value 0; background must be 0.")
    lookup = {int(value): index for index, value in enumerate(values)}
    num_channels = read_image(next(iter(images.values()))).num_channels
    test_dir = source / "test"
    test_images = _images_in(test_dir) if test_dir.is_dir() else {}

    def cases():
        for split, stems in (("train", images), ("test", test_images)):
            for stem, path in stems.items():
                image = read_image(path)
                if image.num_channels != num_channels:
                    raise AutosegError(
                        f"{path}: has {image.num_channels} channel(s) but other images have {num_channels}; convert all images "
                        "to RGB or all to grayscale."
                    )
                channels = [ImageData(image.array[i : i + 1], image.geometry) for i in range(num_channels)]
                labels = []
                if split == "train":
                    mask = mask_arrays[stem]
                    if mask.shape[1:] != image.spatial_shape:
                        raise AutosegError(f"{masks[stem]}: mask shape {mask.shape[1:]} differs from its image's {image.spatial_shape}.")
                    mapped = np.vectorize(lookup.__getitem__, otypes=[np.uint8])(mask)
                    labels = [ImageData(mapped, image.geometry)]
                yield RawCase(stem, channels, labels, split=split)

    channel_names = {"0": "gray"} if num_channels == 1 else {"0": "red", "1": "green", "2": "blue"}
    labels = {"background": 0} | ({"foreground": 1} if len(values) == 2 else {f"label_{i}": i for i in range(1, len(values))})
    dataset_json = {
        "name": name,
        "description": f"Converted from 2D image/mask pairs; label i is mask value {[int(v) for v in values]}[i].",
        "channel_names": channel_names,
        "labels": labels,
        "file_ending": ".png",
        "task": "segmentation",
    }
    return write_raw_dataset(raw_root, dataset_id, name, dataset_json=dataset_json, cases=cases(), overwrite=overwrite)
