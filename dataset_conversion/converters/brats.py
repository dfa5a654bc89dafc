"""BraTS 2019 (and the same per-subject layout of 2018-2021) to the raw format.

Source layout: one folder per subject anywhere below the source folder (e.g.
``MICCAI_BraTS_2019_Data_Training/HGG/BraTS19_2013_2_1/``) holding
``<subject>_t1.nii.gz``, ``_t1ce``, ``_t2``, ``_flair`` and, for training
subjects, ``_seg``. Subjects without a segmentation (the validation release)
become test cases.

BraTS labels 1 (necrotic / non-enhancing core), 2 (oedema) and 4 (enhancing
tumour) become 2, 1 and 3, so the evaluated regions nest: whole tumour
{1, 2, 3} contains tumour core {2, 3} contains enhancing tumour {3}. Training
is then region-based, in the order whole tumour, core, enhancing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autoseg.errors import AutosegError
from autoseg.io import ImageData, read_image
from dataset_conversion.converters.registry import register_converter
from dataset_conversion.raw_writer import RawCase, write_raw_dataset

MODALITIES = ("t1", "t1ce", "t2", "flair")
CHANNEL_NAMES = {"0": "T1", "1": "T1ce", "2": "T2", "3": "FLAIR"}
BRATS_TO_RAW = {0: 0, 1: 2, 2: 1, 4: 3}
LABELS = {"background": 0, "whole_tumour": [1, 2, 3], "tumour_core": [2, 3], "enhancing_tumour": [3]}
REGIONS_CLASS_ORDER = [1, 2, 3]


def map_brats_labels(label: ImageData, path: Path) -> ImageData:
    """Returns ``label`` with BraTS values 1, 2, 4 mapped to 2, 1, 3; refuses any other value."""
    values = set(np.unique(label.array).astype(int).tolist())
    unknown = sorted(values - set(BRATS_TO_RAW))
    if unknown:
        raise AutosegError(
            f"{path}: label values {unknown} are not BraTS 2019 labels (0, 1, 2, 4). Is this a BraTS 2023 file (label 3 = enhancing)?"
        )
    lookup = np.zeros(max(BRATS_TO_RAW) + 1, dtype=np.uint8)
    for source, target in BRATS_TO_RAW.items():
        lookup[source] = target
    return ImageData(lookup[label.array.astype(np.int64)], label.geometry)


def find_subjects(source: Path) -> list[Path]:
    """Returns every subject folder below ``source`` (a folder holding ``*_flair.nii.gz``)."""
    subjects = sorted({path.parent for path in source.rglob("*_flair.nii.gz") if not path.name.startswith(".")})
    if not subjects:
        raise AutosegError(f"{source}: no BraTS subject folders found (expected <subject>/<subject>_flair.nii.gz and siblings).")
    return subjects


def _subject_case(folder: Path) -> RawCase:
    subject = folder.name
    channels = []
    for modality in MODALITIES:
        path = folder / f"{subject}_{modality}.nii.gz"
        if not path.is_file():
            raise AutosegError(f"{folder}: missing {path.name}; every BraTS subject needs t1, t1ce, t2 and flair.")
        channels.append(read_image(path))
    seg_path = folder / f"{subject}_seg.nii.gz"
    if seg_path.is_file():
        return RawCase(subject, channels, [map_brats_labels(read_image(seg_path), seg_path)])
    return RawCase(subject, channels, split="test")


@register_converter("brats2019", "BraTS 2018-2021 per-subject folders (t1, t1ce, t2, flair, seg)", "BraTS2019")
def convert_brats(source: Path, raw_root: Path, dataset_id: int, name: str, overwrite: bool = False) -> Path:
    dataset_json = {
        "name": name,
        "description": "Brain tumour segmentation converted from the BraTS layout; regions whole tumour, tumour core, enhancing tumour.",
        "channel_names": CHANNEL_NAMES,
        "labels": LABELS,
        "regions_class_order": REGIONS_CLASS_ORDER,
        "file_ending": ".nii.gz",
        "task": "segmentation",
    }
    cases = (_subject_case(folder) for folder in find_subjects(source))
    return write_raw_dataset(raw_root, dataset_id, name, dataset_json=dataset_json, cases=cases, overwrite=overwrite)
