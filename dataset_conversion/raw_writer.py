"""Writes a dataset in autoseg's raw format, all at once or not at all."""

from __future__ import annotations

import csv
import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from autoseg.dataset.layout import SPLITS
from autoseg.errors import AutosegError
from autoseg.io import ImageData, atomic_write, write_image
from autoseg.paths import dataset_folder_name, datasets_in


@dataclass
class RawCase:
    """One case to write. ``labels`` holds one image (segmentation, one regression target) or one per target."""

    case_id: str
    channels: list[ImageData]
    labels: list[ImageData] = field(default_factory=list)
    class_name: str | None = None
    subject: str | None = None
    split: str = "train"


@contextmanager
def staged_dataset(raw_root: Path, dataset_id: int, name: str, overwrite: bool = False) -> Iterator[Path]:
    """Yields a hidden staging folder that becomes ``raw_root/DatasetXXX_Name`` when the block succeeds.

    An interrupted or failing block leaves no dataset and no staging folder.
    Refuses to reuse an id held by a dataset of another name, and to replace
    an existing dataset unless ``overwrite``.
    """
    raw_root = Path(raw_root)
    folder = dataset_folder_name(dataset_id, name)
    target = raw_root / folder
    clashes = [p for p in datasets_in(raw_root).get(dataset_id, []) if p.name != folder]
    if clashes:
        raise AutosegError(f"dataset id {dataset_id} is already used by {clashes[0]}; choose another id with -d.")
    if target.exists() and not overwrite:
        raise AutosegError(f"{target} already exists; pass --overwrite to replace it or choose another id with -d.")
    raw_root.mkdir(parents=True, exist_ok=True)
    staging = raw_root / f".{folder}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        yield staging
        if target.exists():
            retired = raw_root / f".{folder}.old-{os.getpid()}"
            os.replace(target, retired)
            os.replace(staging, target)
            shutil.rmtree(retired)
        else:
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_raw_dataset(
    raw_root: Path,
    dataset_id: int,
    name: str,
    *,
    dataset_json: dict,
    cases: Iterable[RawCase],
    overwrite: bool = False,
) -> Path:
    """Writes ``cases`` as ``raw_root/DatasetXXX_Name`` (all or nothing) and returns that folder.

    ``dataset_json`` holds every key but ``numTraining``, which is counted.
    """
    with staged_dataset(raw_root, dataset_id, name, overwrite) as staging:
        staging.mkdir()
        num_training = _write_cases(staging, dataset_json, cases)
        write_json(staging / "dataset.json", {**dataset_json, "numTraining": num_training})
    return Path(raw_root) / dataset_folder_name(dataset_id, name)


def write_json(path: Path, data: dict) -> None:
    """Writes indented JSON atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))


def _write_cases(staging: Path, dataset_json: dict, cases: Iterable[RawCase]) -> int:
    ending = dataset_json["file_ending"]
    class_rows: dict[str, list[list[str]]] = {"train": [], "test": []}
    seen: set[str] = set()
    num_training = 0
    for case in cases:
        if case.case_id in seen:
            raise AutosegError(f"case id {case.case_id!r} occurs twice in the source; case ids must be unique.")
        seen.add(case.case_id)
        images_dir, labels_dir = (staging / name for name in SPLITS[case.split])
        for index, channel in enumerate(case.channels):
            write_image(channel, images_dir / f"{case.case_id}_{index:04d}{ending}")
        if len(case.labels) == 1:
            write_image(case.labels[0], labels_dir / f"{case.case_id}{ending}")
        else:
            for index, label in enumerate(case.labels):
                write_image(label, labels_dir / f"{case.case_id}_{index:04d}{ending}")
        if case.class_name is not None:
            class_rows[case.split].append([case.case_id, case.class_name, case.subject or ""])
        num_training += case.split == "train"
    for split, rows in class_rows.items():
        if rows:
            with (staging / f"{SPLITS[split][1]}.csv").open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["case_id", "label", "subject"])
                writer.writerows(rows)
    return num_training
