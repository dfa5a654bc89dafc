"""How each task kind keeps its training references in a raw dataset, and what dataset.json declares for them.

A reference format is registered under the kind's name (dataset.json's ``task``) and owns the dataset.json
keys that describe its references: which they are (``keys``), what is wrong with them (``spec_problems``), and
how they are read into a DatasetSpec and written back (``fields`` / ``json_fields``). It also answers which
files or rows belong to each case (``attach``) and what is wrong with one reference file (``file_problems``,
for ``autoseg verify``). Each kind registers its format from its own
package (autoseg/tasks/<kind>/references.py); a plug-in task kind registers its reference format the same way.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoseg.dataset.checks import grid_problems
from autoseg.dataset.layout import SPLITS, Case, Problem, channel_files, relative_name, split_name, visible_files, wrong_ending_message
from autoseg.dataset.segment_codes import KEY as SEGMENT_CODES
from autoseg.io import ImageData
from autoseg.registry import Registry

if TYPE_CHECKING:
    from autoseg.dataset.dataset_json import DatasetSpec


class ReferenceFormat:
    """The references of one task kind: declared in dataset.json, stored beside the images."""

    name = ""  # dataset.json's ``task``
    keys: tuple[str, ...] = ()  # the dataset.json keys ``fields`` reads (others a kind reads stay in DatasetSpec.extra)

    def spec_problems(self, data: dict) -> list[str]:
        """Problems with the dataset.json keys that describe this kind's references (here: the keys of label
        maps, which a kind without them must not carry)."""
        if SEGMENT_CODES in data:
            return [f"'{SEGMENT_CODES}' describes segmentation labels; a {self.name} dataset has none, remove it"]
        return []

    def fields(self, data: dict) -> dict[str, Any]:
        """The DatasetSpec fields of a valid dataset.json's ``keys`` ({field name: value})."""
        return {}

    def json_fields(self, spec: DatasetSpec) -> dict[str, Any]:
        """``fields`` written back: the dataset.json keys of ``spec``'s references, as dataset.json writes them."""
        return {}

    def attach(self, cases: list[Case], root: Path, split: str, spec: DatasetSpec) -> tuple[list[Case], list[Problem]]:
        """Gives each case of ``split`` its references; returns the cases that are complete and every problem.
        Training cases need references; test cases may have none."""
        raise NotImplementedError

    def file_problems(self, reference: ImageData, images: ImageData, spec: DatasetSpec, where: str) -> list[Problem]:
        """Problems with one reference file, read, against the case's first image."""
        return []


# The built-in kinds register their formats in their packages (autoseg/tasks/<kind>/references.py), loaded on the
# registry's first read as plug-ins are.
REFERENCE_FORMATS: Registry[ReferenceFormat] = Registry("task kind", builtins="autoseg.tasks")


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
