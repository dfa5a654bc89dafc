"""Classification's raw references: one row per case in ``labelsTr.csv`` (``case_id,label[,subject]``), its classes
declared in dataset.json's ``classes``."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoseg.dataset.checks import names_by_index
from autoseg.dataset.layout import SPLITS, Case, Problem
from autoseg.dataset.references import ReferenceFormat, register_reference_format

if TYPE_CHECKING:
    from autoseg.dataset.dataset_json import DatasetSpec

CLASSES_EXAMPLE = '{"0": "CN", "1": "AD"} or {"CN": 0, "AD": 1}'


@register_reference_format
class ClassTable(ReferenceFormat):
    """Classification: one row per case in ``labelsTr.csv`` (``case_id,label[,subject]``), its classes
    declared in ``classes``."""

    name = "classification"
    keys = ("classes",)

    def spec_problems(self, data: dict) -> list[str]:
        return super().spec_problems(data) + names_by_index("classes", data.get("classes"), "class", CLASSES_EXAMPLE, minimum=2)[1]

    def fields(self, data: dict) -> dict[str, Any]:
        """``classes``: {class name: index}, dataset.json writing it either way round."""
        return {"classes": {name: index for index, name in names_by_index("classes", data["classes"], "class", "")[0].items()}}

    def json_fields(self, spec: DatasetSpec) -> dict[str, Any]:
        return {"classes": dict(spec.classes)}

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
