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


def _inside(source: Path, relative, where: str) -> Path:
    """``source / relative`` when it names a file inside ``source`` (links followed); AutosegError otherwise: an MSD
    dataset.json that points elsewhere (an absolute path, ``..``) is refused, never copied from."""
    if not isinstance(relative, str) or not relative:
        raise AutosegError(f"{where}: expected a file path relative to the task folder, got {relative!r}.")
    path = source / relative
    try:
        path.resolve().relative_to(source.resolve())
    except ValueError:
        raise AutosegError(
            f"{where}: {relative!r} leads outside {source}; an MSD dataset.json names files inside its task folder."
        ) from None
    return path


def _entries(msd: dict, json_path: Path) -> list[tuple[Path, Path | None, str]]:
    """(image, label or None, split) of every training and test entry, each checked before anything is read."""
    found = []
    for split, key in (("train", "training"), ("test", "test")):
        entries = msd.get(key, [])
        if not isinstance(entries, list):
            raise AutosegError(f"{json_path}: '{key}' must be a list of cases, got {type(entries).__name__}.")
        for index, entry in enumerate(entries):
            where = f"{json_path} '{key}'[{index}]"
            if split == "train" and not (isinstance(entry, dict) and "image" in entry and "label" in entry):
                raise AutosegError(f"{where}: a training case needs an 'image' and a 'label', got {entry!r}.")
            image = entry.get("image") if isinstance(entry, dict) else entry
            label = _inside(json_path.parent, entry["label"], where) if split == "train" else None
            found.append((_inside(json_path.parent, image, where), label, split))
    return found


def _labels(labels, json_path: Path) -> dict[str, int]:
    """dataset.json's ``labels`` (name -> value) from MSD's value -> name map, refusing keys that are not numbers."""
    if not isinstance(labels, dict) or not labels:
        raise AutosegError(f'{json_path}: \'labels\' must map label values to names, e.g. {{"0": "background", "1": "tumour"}}.')
    bad = [key for key, name in labels.items() if not str(key).isdigit() or not isinstance(name, str) or not name]
    if bad:
        raise AutosegError(
            f'{json_path}: labels {bad} must each map a whole number to a non-empty name (MSD writes "1": "tumour"); fix them.'
        )
    return {name: int(value) for value, name in labels.items()}


def _msd_case(image_path: Path, label_path: Path | None, split: str, num_channels: int) -> RawCase:
    channels = _split_channels(read_image(image_path))
    if len(channels) != num_channels:
        raise AutosegError(f"{image_path}: holds {len(channels)} modalities but the MSD dataset.json declares {num_channels}.")
    labels = []
    if label_path is not None:
        label = read_image(label_path)
        # Some MSD label headers differ from their image's in the last float digits; the image's is authoritative.
        nearly_same = not label.geometry.differences(channels[0].geometry, 1e-2, 1e-2, 1e-2)
        labels = [ImageData(label.array, channels[0].geometry if nearly_same else label.geometry)]
    return RawCase(_case_id(str(image_path)), channels, labels, split=split)


@register_converter("decathlon", "Medical Segmentation Decathlon TaskXX_Name folders (4D multi-modal NIfTI)", "Decathlon")
def convert_decathlon(source: Path, raw_root: Path, dataset_id: int, name: str, overwrite: bool = False) -> Path:
    json_path = source / "dataset.json"
    if not json_path.is_file():
        raise AutosegError(f"{source}: no dataset.json; point at an MSD TaskXX_Name folder.")
    try:
        msd = json.loads(json_path.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise AutosegError(f"{json_path} is not valid JSON ({error}); fix it or get the task folder again.") from error
    missing = [key for key in ("modality", "labels", "training") if key not in msd] if isinstance(msd, dict) else ["all"]
    if missing:
        raise AutosegError(f"{json_path}: missing MSD key(s) {missing}; is this a Decathlon task folder?")
    modality = msd["modality"]
    if not isinstance(modality, dict) or not modality or not all(str(key).isdigit() for key in modality):
        raise AutosegError(f'{json_path}: \'modality\' must map "0", "1", ... to channel names, got {modality!r}.')
    labels = _labels(msd["labels"], json_path)
    entries = _entries(msd, json_path)
    num_channels = len(modality)
    if name == "Decathlon" and source.name.startswith("Task") and "_" in source.name:
        name = source.name.split("_", 1)[1]
    dataset_json = {
        "name": msd.get("name", name),
        "description": msd.get("description", ""),
        "reference": msd.get("reference", ""),
        "licence": msd.get("licence", ""),
        "channel_names": {str(k): v for k, v in sorted(modality.items(), key=lambda kv: int(kv[0]))},
        "labels": labels,
        "file_ending": ".nii.gz",
        "task": "segmentation",
    }
    cases = (_msd_case(image, label, split, num_channels) for image, label, split in entries)
    return write_raw_dataset(raw_root, dataset_id, name, dataset_json=dataset_json, cases=cases, overwrite=overwrite)
