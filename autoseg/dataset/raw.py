"""The raw dataset layout: finding each case's files, and the classification label table.

::

    DatasetXXX_Name/
      dataset.json
      imagesTr/{case}_{XXXX}{ending}   one file per channel (XXXX = 0000, 0001, ...)
      labelsTr/{case}{ending}          segmentation labels or a regression target
      labelsTr/{case}_{XXXX}{ending}   regression with several targets
      labelsTr.csv                     classification: case_id,label[,subject]
      imagesTs/, labelsTs/, labelsTs.csv   optional held-out cases, same naming

Discovery never raises for a malformed layout: it returns what it found and a
list of problems, so ``autoseg verify`` can report them all and later stages
can refuse to start.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from autoseg.dataset.dataset_json import DatasetSpec, load_dataset_spec
from autoseg.errors import AutosegError
from autoseg.io import supported_endings

_CHANNEL_FILE = re.compile(r"^(?P<case>.+)_(?P<index>\d{4})$")
# One file of these formats may hold several channels (RGB).
_MULTICHANNEL_FILE_ENDINGS = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg")

SPLITS = {"train": ("imagesTr", "labelsTr"), "test": ("imagesTs", "labelsTs")}


@dataclass(frozen=True)
class Problem:
    """One problem found in a dataset: where (case or file, relative to the dataset) and what."""

    where: str
    message: str

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


def _visible_files(folder: Path) -> list[Path]:
    # Hidden files (.DS_Store, macOS "._" resource forks) are never data.
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _split_name(path: Path, ending: str) -> str | None:
    """Returns the file name without ``ending``, or None if it has another ending."""
    return path.name[: -len(ending)] if path.name.lower().endswith(ending.lower()) else None


def _wrong_ending_message(path: Path, ending: str) -> str:
    other = next((e for e in supported_endings() if path.name.lower().endswith(e)), None)
    if other:
        return f"has ending {other} but dataset.json's file_ending is {ending}; convert it or fix file_ending"
    return f"is not a {ending} image; remove it from the dataset folder"


def _channel_files(folder: Path, ending: str, root: Path) -> tuple[dict[str, dict[int, Path]], list[Problem]]:
    found: dict[str, dict[int, Path]] = defaultdict(dict)
    problems = []
    for path in _visible_files(folder):
        stem = _split_name(path, ending)
        match = _CHANNEL_FILE.match(stem) if stem is not None else None
        if stem is None:
            problems.append(Problem(relative_name(path, root), _wrong_ending_message(path, ending)))
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


def collect_cases(root: Path, spec: DatasetSpec, split: str = "train") -> tuple[list[Case], list[Problem]]:
    """Finds the cases of ``split`` ('train' or 'test') and every layout problem among them.

    A case whose files are incomplete is reported and left out of the returned list.
    """
    images_name, labels_name = SPLITS[split]
    images_dir, labels_dir = root / images_name, root / labels_name
    if not images_dir.is_dir():
        if split == "test":
            return [], []
        return [], [Problem(images_name, "folder is missing; training images go in imagesTr/")]

    ending = spec.file_ending
    by_case, problems = _channel_files(images_dir, ending, root)
    cases: list[Case] = []
    for case_id in sorted(by_case):
        files = by_case[case_id]
        missing = [i for i in range(max(files) + 1) if i not in files]
        if max(files) >= spec.num_channels:
            problems.append(
                Problem(
                    case_id,
                    f"has channel file {max(files):04d} but dataset.json declares {spec.num_channels} channel(s) ({_channel_list(spec)})",
                )
            )
        elif missing:
            names = ", ".join(f"{case_id}_{i:04d}{ending}" for i in missing)
            problems.append(Problem(case_id, f"missing channel file(s) {names} in {images_name}/"))
        elif len(files) < spec.num_channels and not (len(files) == 1 and ending.lower() in _MULTICHANNEL_FILE_ENDINGS):
            names = ", ".join(f"{case_id}_{i:04d}{ending}" for i in range(len(files), spec.num_channels))
            problems.append(Problem(case_id, f"missing channel file(s) {names} in {images_name}/"))
        else:
            cases.append(Case(case_id, [files[i] for i in sorted(files)]))

    problems += _case_id_collisions(by_case)
    if spec.task == "classification":
        cases, label_problems = _attach_class_labels(cases, root / f"{labels_name}.csv", spec, required=split == "train")
    else:
        cases, label_problems = _attach_label_files(cases, labels_dir, spec, root, required=split == "train")
    problems += label_problems
    if split == "train" and len(by_case) != spec.num_training:
        problems.append(
            Problem(
                "dataset.json",
                f"numTraining is {spec.num_training} but {images_name}/ holds {len(by_case)} cases; set numTraining to {len(by_case)}",
            )
        )
    return cases, problems


def _channel_list(spec: DatasetSpec) -> str:
    return ", ".join(f"{i:04d}={name}" for i, name in spec.channel_names.items())


def _case_id_collisions(by_case: dict) -> list[Problem]:
    lowered: dict[str, list[str]] = defaultdict(list)
    for case_id in by_case:
        lowered[case_id.lower()].append(case_id)
    return [
        Problem(", ".join(ids), "case ids differ only in upper/lower case and collide on macOS and Windows; rename one")
        for ids in lowered.values()
        if len(ids) > 1
    ]


def _attach_label_files(
    cases: list[Case], labels_dir: Path, spec: DatasetSpec, root: Path, required: bool
) -> tuple[list[Case], list[Problem]]:
    if not labels_dir.is_dir():
        if required and cases:
            return [], [
                Problem(
                    labels_dir.name, f"folder is missing; put one label file per case there ({labels_dir.name}/{{case}}{spec.file_ending})"
                )
            ]
        return cases, []
    ending = spec.file_ending
    problems = []
    several_targets = spec.task == "regression" and len(spec.targets) > 1
    label_files: dict[str, dict[int, Path]] = defaultdict(dict)
    if several_targets:
        found, problems = _channel_files(labels_dir, ending, root)
        label_files.update(found)
    else:
        for path in _visible_files(labels_dir):
            stem = _split_name(path, ending)
            if stem is None:
                problems.append(Problem(relative_name(path, root), _wrong_ending_message(path, ending)))
            else:
                label_files[stem][0] = path
    expected = len(spec.targets) if several_targets else 1
    image_ids = {case.case_id for case in cases}
    complete = []
    for case in cases:
        files = label_files.get(case.case_id, {})
        if len(files) == expected:
            case.label_files = [files[i] for i in sorted(files)]
            complete.append(case)
        elif not files and not required:
            complete.append(case)
        else:
            names = ", ".join(
                f"{labels_dir.name}/{case.case_id}{f'_{i:04d}' if several_targets else ''}{ending}"
                for i in range(expected)
                if i not in files
            )
            problems.append(Problem(case.case_id, f"no label file {names}"))
    for case_id in sorted(set(label_files) - image_ids):
        for path in label_files[case_id].values():
            problems.append(
                Problem(
                    relative_name(path, root),
                    f"label file has no matching images in {SPLITS['train' if required else 'test'][0]}/ (expected {case_id}_0000{ending})",
                )
            )
    return complete, problems


@dataclass(frozen=True)
class ClassLabel:
    class_index: int
    subject: str | None


def read_class_table(path: Path, spec: DatasetSpec) -> tuple[dict[str, ClassLabel], list[Problem]]:
    """Reads labelsTr.csv (``case_id,label[,subject]``); ``label`` is a class name or its integer index."""
    where = path.name
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
            header = rows[0].keys() if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        return {}, [Problem(where, f"cannot be read as CSV ({error})")]
    if not {"case_id", "label"} <= set(header):
        return {}, [Problem(where, f"needs a header row with columns case_id,label (optional: subject); got {list(header) or 'no rows'}")]
    by_index = {str(index): index for index in spec.classes.values()}
    table: dict[str, ClassLabel] = {}
    problems = []
    for line, row in enumerate(rows, start=2):
        case_id, label = (row["case_id"] or "").strip(), (row["label"] or "").strip()
        index = spec.classes.get(label, by_index.get(label))
        if case_id in table:
            problems.append(Problem(f"{where} line {line}", f"case {case_id!r} is listed more than once"))
        elif index is None:
            problems.append(
                Problem(
                    f"{where} line {line}",
                    f"class {label!r} of case {case_id!r} is not declared in dataset.json's classes ({', '.join(spec.classes)})",
                )
            )
        else:
            table[case_id] = ClassLabel(index, (row.get("subject") or "").strip() or None)
    return table, problems


def _attach_class_labels(cases: list[Case], csv_path: Path, spec: DatasetSpec, required: bool) -> tuple[list[Case], list[Problem]]:
    if not csv_path.is_file():
        if required and cases:
            return [], [Problem(csv_path.name, "is missing; classification datasets list case_id,label rows there")]
        return cases, []
    table, problems = read_class_table(csv_path, spec)
    labelled = []
    for case in cases:
        if case.case_id in table:
            case.class_index, case.subject = table[case.case_id].class_index, table[case.case_id].subject
            labelled.append(case)
        else:
            problems.append(Problem(case.case_id, f"has no row in {csv_path.name}"))
    for case_id in sorted(set(table) - {case.case_id for case in cases}):
        problems.append(Problem(csv_path.name, f"lists case {case_id!r}, which has no images"))
    return labelled, problems


class RawDataset:
    """A raw dataset folder: its dataset.json and its cases, refusing to open a malformed layout."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.spec = load_dataset_spec(self.root)

    @property
    def name(self) -> str:
        return self.root.name

    def cases(self, split: str = "train") -> list[Case]:
        """Returns the cases of ``split``; raises AutosegError if the layout has problems."""
        cases, problems = collect_cases(self.root, self.spec, split)
        if problems:
            listed = "\n  - ".join(str(p) for p in problems[:10])
            more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
            raise AutosegError(
                f"{self.root}: the dataset layout has problems:\n  - {listed}{more}\nRun `autoseg verify` on it for the full report."
            )
        return cases
