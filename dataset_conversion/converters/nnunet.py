"""nnU-Net v2 raw datasets: already in autoseg's raw format; copied under a new id, files unchanged."""

from __future__ import annotations

import shutil
from pathlib import Path

from autoseg.dataset import collect_cases, load_dataset_spec
from autoseg.errors import AutosegError
from autoseg.paths import dataset_folder_name, parse_dataset_folder
from dataset_conversion.converters.registry import register_converter
from dataset_conversion.raw_writer import staged_dataset


@register_converter("nnunetv2", "nnU-Net v2 raw datasets (copied as they are; they already fit)", "nnUNet")
def convert_nnunet(source: Path, raw_root: Path, dataset_id: int, name: str, overwrite: bool = False) -> Path:
    spec = load_dataset_spec(source)
    if "dataset" in spec.extra:
        raise AutosegError(
            f"{source}/dataset.json lists files under 'dataset'; autoseg reads the imagesTr/labelsTr naming only. Copy the "
            "files into that layout."
        )
    _, problems = collect_cases(source, spec, "train")
    if problems:
        raise AutosegError(f"{source}: not a valid nnU-Net v2 raw dataset: {problems[0]} (run `autoseg verify {source}` for all problems).")
    parsed = parse_dataset_folder(source.name)
    if name == "nnUNet" and parsed:
        name = parsed[1]
    with staged_dataset(raw_root, dataset_id, name, overwrite) as staging:
        shutil.copytree(source, staging, ignore=shutil.ignore_patterns(".*"))
    return raw_root / dataset_folder_name(dataset_id, name)
