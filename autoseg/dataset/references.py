"""How each task kind keeps its training references in a raw dataset, and what dataset.json declares for them.

A reference format is registered under the kind's name (dataset.json's ``task``) and answers the three
questions the raw-dataset layer asks: which dataset.json keys must describe the references
(``spec_problems``), which files or rows belong to each case (``attach``), and what is wrong with one
reference file (``file_problems``, for ``autoseg verify``). The task objects (autoseg/tasks) build on the
cases this layer finds; a plug-in task kind registers its reference format here too.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoseg.dataset.checks import IGNORE_LABEL, grid_problems, is_int, label_value_problems, names_by_index
from autoseg.dataset.layout import SPLITS, Case, Problem, channel_files, relative_name, split_name, visible_files, wrong_ending_message
from autoseg.dataset.segment_codes import KEY as SEGMENT_CODES
from autoseg.dataset.segment_codes import segment_code_problems
from autoseg.io import ImageData
from autoseg.registry import Registry

if TYPE_CHECKING:
    from autoseg.dataset.dataset_json import DatasetSpec


class ReferenceFormat:
    """The references of one task kind: declared in dataset.json, stored beside the images."""

    name = ""  # dataset.json's ``task``

    def spec_problems(self, data: dict) -> list[str]:
        """Problems with the dataset.json keys that describe this kind's references (here: the keys of label
        maps, which a kind without them must not carry)."""
        if SEGMENT_CODES in data:
            return [f"'{SEGMENT_CODES}' describes segmentation labels; a {self.name} dataset has none, remove it"]
        return []

    def attach(self, cases: list[Case], root: Path, split: str, spec: DatasetSpec) -> tuple[list[Case], list[Problem]]:
        """Gives each case of ``split`` its references; returns the cases that are complete and every problem.
        Training cases need references; test cases may have none."""
        raise NotImplementedError

    def file_problems(self, reference: ImageData, images: ImageData, spec: DatasetSpec, where: str) -> list[Problem]:
        """Problems with one reference file, read, against the case's first image."""
        return []


REFERENCE_FORMATS: Registry[ReferenceFormat] = Registry("task kind")
CLASSES_EXAMPLE = '{"0": "CN", "1": "AD"} or {"CN": 0, "AD": 1}'
TARGETS_EXAMPLE = '{"0": "PET_standard_dose"} or {"PET_standard_dose": 0}'


def register_reference_format(cls: type[ReferenceFormat]) -> type[ReferenceFormat]:
    """Class decorator: registers an instance of ``cls`` under its task kind's name."""
    REFERENCE_FORMATS.add(cls.name, cls())
    return cls


class ImageReferences(ReferenceFormat):
    """References stored as images on the cases' grid: ``labelsTr/{case}{ending}``, or one file per
    reference channel (``labelsTr/{case}_{XXXX}{ending}``) where a case has several."""

    grid_mismatch = "reference does not match the images"

    def files_per_case(self, spec: DatasetSpec) -> int:
        return 1

    def attach(self, cases: list[Case], root: Path, split: str, spec: DatasetSpec) -> tuple[list[Case], list[Problem]]:
        images_name, labels_name = SPLITS[split]
        labels_dir, required, ending = root / labels_name, split == "train", spec.file_ending
        if not labels_dir.is_dir():
            if required and cases:
                return [], [Problem(labels_name, f"folder is missing; put one label file per case there ({labels_name}/{{case}}{ending})")]
            return cases, []
        expected = self.files_per_case(spec)
        several = expected > 1
        reference_files, problems = _reference_files(labels_dir, root, ending, several)
        complete = []
        for case in cases:
            files = reference_files.get(case.case_id, {})
            if len(files) == expected:
                case.label_files = [files[i] for i in sorted(files)]
                complete.append(case)
            elif not files and not required:
                complete.append(case)
            else:
                suffixes = [f"_{i:04d}" if several else "" for i in range(expected) if i not in files]
                missing = [f"{labels_name}/{case.case_id}{suffix}{ending}" for suffix in suffixes]
                problems.append(Problem(case.case_id, f"no label file {', '.join(missing)}"))
        for case_id in sorted(set(reference_files) - {case.case_id for case in cases}):
            for path in reference_files[case_id].values():
                where = relative_name(path, root)
                problems.append(Problem(where, f"label file has no matching images in {images_name}/ (expected {case_id}_0000{ending})"))
        return complete, problems

    def file_problems(self, reference: ImageData, images: ImageData, spec: DatasetSpec, where: str) -> list[Problem]:
        return grid_problems(reference, images, where, self.grid_mismatch)


def _reference_files(labels_dir: Path, root: Path, ending: str, several: bool) -> tuple[dict[str, dict[int, Path]], list[Problem]]:
    """{case id: {reference index: file}} of a labels folder, and the files that fit no name."""
    if several:
        return channel_files(labels_dir, ending, root)
    found: dict[str, dict[int, Path]] = defaultdict(dict)
    problems = []
    for path in visible_files(labels_dir):
        stem = split_name(path, ending)
        if stem is None:
            problems.append(Problem(relative_name(path, root), wrong_ending_message(path, ending)))
        else:
            found[stem][0] = path
    return dict(found), problems


@register_reference_format
class LabelMaps(ImageReferences):
    """Segmentation: one integer label map per case, its values declared in ``labels``."""

    name = "segmentation"
    grid_mismatch = "label does not match the images"

    def spec_problems(self, data: dict) -> list[str]:
        return _label_problems(data) or segment_code_problems(data)

    def file_problems(self, reference: ImageData, images: ImageData, spec: DatasetSpec, where: str) -> list[Problem]:
        problems = super().file_problems(reference, images, spec, where) + label_value_problems(reference, spec.label_values(), where)
        if spec.ignore_label is not None and not problems and (reference.array == spec.ignore_label).all():
            problems.append(
                Problem(where, f"holds no annotated voxel (every voxel is {IGNORE_LABEL!r}); it adds nothing to training", blocking=False)
            )
        return problems


@register_reference_format
class TargetImages(ImageReferences):
    """Regression: one float image per target declared in ``targets``."""

    name = "regression"
    grid_mismatch = "regression target is on a different grid than the images"

    def files_per_case(self, spec: DatasetSpec) -> int:
        return len(spec.targets)

    def spec_problems(self, data: dict) -> list[str]:
        targets, problems = names_by_index("targets", data.get("targets"), "regression target", TARGETS_EXAMPLE)
        if "baseline_channels" in data and not problems:
            problems += _baseline_problems(data["baseline_channels"], {str(index) for index in targets}, data.get("channel_names"))
        return super().spec_problems(data) + problems


@register_reference_format
class ClassTable(ReferenceFormat):
    """Classification: one row per case in ``labelsTr.csv`` (``case_id,label[,subject]``), its classes
    declared in ``classes``."""

    name = "classification"

    def spec_problems(self, data: dict) -> list[str]:
        return super().spec_problems(data) + names_by_index("classes", data.get("classes"), "class", CLASSES_EXAMPLE, minimum=2)[1]

    def attach(self, cases: list[Case], root: Path, split: str, spec: DatasetSpec) -> tuple[list[Case], list[Problem]]:
        csv_path, required = root / f"{SPLITS[split][1]}.csv", split == "train"
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


def _label_problems(data: dict) -> list[str]:
    labels = data.get("labels")
    if not isinstance(labels, dict) or not labels:
        return ['\'labels\' must be a non-empty object mapping label names to integers, e.g. {"background": 0, "tumour": 1}']
    problems = []
    plain_values = []
    for name, value in labels.items():
        if is_int(value):
            plain_values.append(value)
            if value < 0:
                problems.append(f"label {name!r} has negative value {value}")
        elif isinstance(value, list) and value and all(is_int(v) and v > 0 for v in value):
            continue
        else:
            problems.append(f"label {name!r} must be an integer, or a list of positive integers for a region; got {value!r}")
    if 0 not in plain_values:
        problems.append("'labels' must declare background with value 0, e.g. \"background\": 0")
    duplicates = sorted({v for v in plain_values if plain_values.count(v) > 1})
    if duplicates:
        problems.append(f"label values {duplicates} are used by more than one label name")
    used = set(plain_values) | {v for value in labels.values() if isinstance(value, list) for v in value if is_int(v)}
    if not duplicates and not problems and sorted(used) != list(range(len(used))):
        problems.append(
            f"label values must be consecutive from 0 (each value is an output channel); got {sorted(used)}. "
            "Renumber the label files (e.g. 0, 1, 2, 4 -> 0, 1, 2, 3), or declare regions for nested structures"
        )
    ignore = labels.get(IGNORE_LABEL)
    if IGNORE_LABEL in labels and (not is_int(ignore) or any(v > ignore for v in used if is_int(v) and v != ignore)):
        problems.append(
            f"the {IGNORE_LABEL!r} label must be a single value above every other label (nnU-Net's convention), got {ignore!r}; "
            f"give it the value {max((v for v in used if v != ignore), default=0) + 1} and renumber the label files"
        )
    if any(isinstance(v, list) for v in labels.values()):
        order = data.get("regions_class_order")
        num_regions = len(labels) - 1 - (IGNORE_LABEL in labels)
        if not isinstance(order, list) or len(order) != num_regions or not all(is_int(v) for v in order):
            problems.append(
                f"region labels need 'regions_class_order', a list of {num_regions} integers (one per non-background entry"
                f"{', the ignore label left out' if IGNORE_LABEL in labels else ''})"
            )
        elif IGNORE_LABEL in labels and ignore in order:
            problems.append(f"'regions_class_order' holds the {IGNORE_LABEL!r} value {ignore}; it is never predicted, leave it out")
    return problems


def _baseline_problems(baselines: Any, targets: set[str], channels: Any) -> list[str]:
    example = 'e.g. {"0": 0}: target 0 improves on input channel 0'
    if not isinstance(baselines, dict):
        return [f"'baseline_channels' must map target indices to input channel indices ({example}), got {baselines!r}"]
    problems = []
    for target, channel in baselines.items():
        if target not in targets:
            problems.append(f"'baseline_channels' names target {target!r}, which 'targets' does not declare")
        if not is_int(channel) or not isinstance(channels, dict) or str(channel) not in channels:
            problems.append(
                f"'baseline_channels' maps target {target!r} to {channel!r}, which is not an input channel index of 'channel_names'"
            )
    return problems
