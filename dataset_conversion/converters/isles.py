"""ISLES 2017 (acute ischaemic stroke, perfusion + diffusion MRI) to the raw format.

Source layout, as released on the SMIR portal: ``training_<n>/`` and
``test_<n>/`` folders, each holding one subfolder per map named like
``SMIR.Brain.XX.O.MR_ADC.<id>/SMIR.Brain.XX.O.MR_ADC.<id>.nii`` for ADC,
rCBV, rCBF, MTT, TTP and Tmax, and ``...O.OT.<id>/...nii`` with the final
lesion outline (training only). The raw 4D perfusion series (MR_4DPWI) is not
used. Cases are named ``isles_<n>`` (training) and ``isles_test_<n>``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from autoseg.errors import AutosegError
from autoseg.io import ImageData, read_image
from dataset_conversion.converters.registry import register_converter
from dataset_conversion.raw_writer import RawCase, write_raw_dataset

MAPS = ("ADC", "rCBV", "rCBF", "MTT", "TTP", "Tmax")
_CASE_FOLDER = re.compile(r"^(?P<kind>training|test)_(?P<number>\d+)$")


def _find_map(case_folder: Path, key: str) -> Path | None:
    marker = f".{key}."
    for path in sorted(case_folder.rglob("*.nii*")):
        if marker in path.name and not path.name.startswith("."):
            return path
    return None


def _isles_case(folder: Path, kind: str, number: int) -> RawCase:
    channels = []
    for name in MAPS:
        path = _find_map(folder, f"MR_{name}")
        if path is None:
            raise AutosegError(f"{folder}: no MR_{name} map found (expected SMIR.Brain.XX.O.MR_{name}.<id>/...nii).")
        channels.append(read_image(path))
    if kind == "test":
        return RawCase(f"isles_test_{number:03d}", channels, split="test")
    label_path = _find_map(folder, "OT")
    if label_path is None:
        raise AutosegError(f"{folder}: training case without a lesion file (SMIR.Brain.XX.O.OT.<id>/...nii).")
    label = read_image(label_path)
    # Some releases store the outline as float; anything above 0.5 is lesion.
    lesion = (label.array > 0.5).astype(np.uint8)
    # Map headers in ISLES disagree in float precision; the label takes the ADC map's geometry.
    return RawCase(f"isles_{number:03d}", channels, [ImageData(lesion, channels[0].geometry)])


@register_converter("isles2017", "ISLES 2017 training_<n>/ and test_<n>/ folders with SMIR.Brain.* maps", "ISLES2017")
def convert_isles(source: Path, raw_root: Path, dataset_id: int, name: str, overwrite: bool = False) -> Path:
    folders = []
    for path in sorted(source.rglob("*")):
        match = _CASE_FOLDER.match(path.name)
        if match and path.is_dir():
            folders.append((path, match["kind"], int(match["number"])))
    if not folders:
        raise AutosegError(f"{source}: no ISLES case folders found (expected training_<n>/ or test_<n>/).")
    dataset_json = {
        "name": name,
        "description": "Ischaemic stroke lesion prediction from acute perfusion and diffusion maps (ISLES 2017 layout).",
        "channel_names": {str(i): name for i, name in enumerate(MAPS)},
        "labels": {"background": 0, "lesion": 1},
        "file_ending": ".nii.gz",
        "task": "segmentation",
    }
    cases = (_isles_case(folder, kind, number) for folder, kind, number in folders)
    return write_raw_dataset(raw_root, dataset_id, name, dataset_json=dataset_json, cases=cases, overwrite=overwrite)
