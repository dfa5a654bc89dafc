"""Medical Segmentation Decathlon (MSD) tasks to the raw format.

Source layout: ``TaskXX_Name/`` with the MSD ``dataset.json`` (``modality``,
``labels`` as value -> name, ``training`` and ``test`` file lists),
``imagesTr/``, ``labelsTr/`` and ``imagesTs/``. Multi-modal images are 4D
NIfTI files whose last axis holds the modalities; each becomes one channel
file. The ``._*`` files that macOS left in the official archives are ignored.
"""

from __future__ import annotations

import json
from pathlib import Path

from autoseg.errors import AutosegError
from autoseg.io import ImageData, read_image
from dataset_conversion.converters.registry import register_converter
from dataset_conversion.raw_writer import RawCase, write_raw_dataset


def _case_id(relative: str) -> str:
    name = Path(relative).name
    return name[: -len(".nii.gz")] if name.endswith(".nii.gz") else Path(name).stem


def _split_channels(image: ImageData) -> list[ImageData]:
    return [ImageData(image.array[index : index + 1], image.geometry) for index in range(image.num_channels)]


def _msd_case(source: Path, entry: dict | str, split: str, num_channels: int) -> RawCase:
    image_path = source / (entry["image"] if isinstance(entry, dict) else entry)
    channels = _split_channels(read_image(image_path))
    if len(channels) != num_channels:
        raise AutosegError(f"{image_path}: holds {len(channels)} modalities but the MSD dataset.json declares {num_channels}.")
    labels = []
    if split == "train":
        label = read_image(source / entry["label"])
        # Some MSD label headers differ from their image's in the last float digits; the image's is authoritative.
        nearly_same = not label.geometry.differences(channels[0].geometry, 1e-2, 1e-2, 1e-2)
        labels = [ImageData(label.array, channels[0].geometry if nearly_same else label.geometry)]
    return RawCase(_case_id(str(image_path)), channels, labels, split=split)


@register_converter("decathlon", "Medical Segmentation Decathlon TaskXX_Name folders (4D multi-modal NIfTI)", "Decathlon")
def convert_decathlon(source: Path, raw_root: Path, dataset_id: int, name: str, overwrite: bool = False) -> Path:
    json_path = source / "dataset.json"
    if not json_path.is_file():
        raise AutosegError(f"{source}: no dataset.json; point at an MSD TaskXX_Name folder.")
    msd = json.loads(json_path.read_text())
    missing = [key for key in ("modality", "labels", "training") if key not in msd]
    if missing:
        raise AutosegError(f"{json_path}: missing MSD key(s) {missing}; is this a Decathlon task folder?")
    num_channels = len(msd["modality"])
    if name == "Decathlon" and source.name.startswith("Task") and "_" in source.name:
        name = source.name.split("_", 1)[1]
    dataset_json = {
        "name": msd.get("name", name),
        "description": msd.get("description", ""),
        "reference": msd.get("reference", ""),
        "licence": msd.get("licence", ""),
        "channel_names": {str(k): v for k, v in sorted(msd["modality"].items(), key=lambda kv: int(kv[0]))},
        "labels": {label_name: int(value) for value, label_name in msd["labels"].items()},
        "file_ending": ".nii.gz",
        "task": "segmentation",
    }
    entries = [(entry, "train") for entry in msd["training"]] + [(entry, "test") for entry in msd.get("test", [])]
    cases = (_msd_case(source, entry, split, num_channels) for entry, split in entries)
    return write_raw_dataset(raw_root, dataset_id, name, dataset_json, cases, overwrite)
