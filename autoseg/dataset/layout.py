"""The raw layout's names: which file is which case and channel, and how a problem names its place.

Shared by case discovery (raw.py) and the task kinds' reference formats (references.py).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from autoseg.io import folder_reader, supported_endings

_CHANNEL_FILE = re.compile(r"^(?P<case>.+)_(?P<index>\d{4})$")
# One file of these formats may hold several channels (RGB).
MULTICHANNEL_FILE_ENDINGS = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg")

SPLITS = {"train": ("imagesTr", "labelsTr"), "test": ("imagesTs", "labelsTs")}


@dataclass(frozen=True)
class Problem:
    """One problem found in a dataset: where (case or file, relative to the dataset) and what; one that is not
    ``blocking`` is reported as a note and does not fail verification."""

    where: str
    message: str
    blocking: bool = True

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Case:
    """A case's files. ``label_files`` is empty for unlabelled test cases and for classification."""

    case_id: str
    image_files: list[Path]
    label_files: list[Path] = field(default_factory=list)
    class_index: int | None = None
    subject: str | None = None


def visible_files(folder: Path) -> list[Path]:
    # Hidden files (.DS_Store, macOS "._" resource forks) are never data.
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def split_name(path: Path, ending: str) -> str | None:
    """Returns the file name without ``ending``, or None if it has another ending."""
    return path.name[: -len(ending)] if path.name.lower().endswith(ending.lower()) else None


def wrong_ending_message(path: Path, ending: str) -> str:
    other = next((e for e in supported_endings() if path.name.lower().endswith(e)), None)
    if other:
        return f"has ending {other} but dataset.json's file_ending is {ending}; convert it or fix file_ending"
    return f"is not a {ending} image; remove it from the dataset folder"


def channel_files(folder: Path, ending: str, root: Path) -> tuple[dict[str, dict[int, Path]], list[Problem]]:
    """{case: {channel index: file}} of ``{case}_{XXXX}{ending}`` files, and of ``{case}_{XXXX}/`` folders
    holding one DICOM series (autoseg/io/dicom.py); with every misnamed file or folder as a problem."""
    found: dict[str, dict[int, Path]] = defaultdict(dict)
    problems = []
    for path in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        match = _CHANNEL_FILE.match(path.name)
        if match is None:
            continue  # not named as a channel: not data
        if folder_reader(path) is None:
            problems.append(
                Problem(relative_name(path, root), "is a folder but holds no DICOM files; a channel folder holds one DICOM series")
            )
        else:
            found[match["case"]][int(match["index"])] = path
    for path in visible_files(folder):
        stem = split_name(path, ending)
        match = _CHANNEL_FILE.match(stem) if stem is not None else None
        if stem is None:
            problems.append(Problem(relative_name(path, root), wrong_ending_message(path, ending)))
        elif match is None:
            problems.append(Problem(relative_name(path, root), f"name does not end in _XXXX (the channel index), e.g. {stem}_0000{ending}"))
        else:
            found[match["case"]][int(match["index"])] = path
    return dict(found), problems


def relative_name(path: Path, root: Path) -> str:
    """Returns ``path`` relative to the dataset folder ``root`` when it lies inside it."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
