"""Classification across folds and models: the folds' validation tables merged into one cross-validation
candidate, pair ensembles of candidates, and ``autoseg ensemble`` of prediction folders: class probabilities
averaged case by case (autoseg/selection.py does the same for images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autoseg.dataset import DatasetSpec
from autoseg.errors import AutosegError
from autoseg.evaluation import read_summary, write_summary
from autoseg.selection import Candidate, crossval_folder_name
from autoseg.tasks.classification.metrics import classification_summary
from autoseg.tasks.classification.table import read_predictions, write_predictions


def _classification_candidate(
    name: str, models: list[Path], folder: Path, *, probabilities: dict[str, np.ndarray], references: dict[str, int], spec: DatasetSpec
) -> Candidate:
    """Writes a classification candidate's out-of-fold predictions table and summary into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    write_predictions(folder / "predictions.csv", probabilities, spec)
    summary = classification_summary(probabilities, references, spec)
    write_summary(folder / "summary.json", summary)
    return Candidate(name, models, folder, summary, spec.file_ending)


def merge_table_folds(model: Path, folds: list[str], spec: DatasetSpec) -> Candidate:
    """Classification: the folds' validation tables merged into one, scored over all out-of-fold cases."""
    probabilities, references, origin = {}, {}, {}
    for fold in folds:
        validation = model / f"fold_{fold}" / "validation"
        summary = read_summary(validation / "summary.json")
        for case_id, row in read_predictions(validation, spec).items():
            if case_id in probabilities:
                raise AutosegError(
                    f"case {case_id} is validated by both fold {origin[case_id]} and fold {fold} of {model.name}: "
                    "the folds were trained with different splits (splits_final.json changed). Retrain the folds on one split."
                )
            probabilities[case_id], origin[case_id] = row, fold
            references[case_id] = spec.classes[summary["cases"][case_id]["reference"]]
    return _classification_candidate(
        model.name, [model], model / crossval_folder_name(folds), probabilities=probabilities, references=references, spec=spec
    )


def ensemble_table_candidates(first: Candidate, second: Candidate, folder: Path, spec: DatasetSpec) -> Candidate:
    """A pair ensemble of classifications: the class probabilities averaged case by case, scored."""
    one, other = read_predictions(first.folder, spec), read_predictions(second.folder, spec)
    references = {case_id: spec.classes[row["reference"]] for case_id, row in first.summary["cases"].items()}
    probabilities = {c: (one[c] + other[c]) / 2 for c in one}
    return _classification_candidate(
        f"{first.name}+{second.name}", first.models + second.models, folder, probabilities=probabilities, references=references, spec=spec
    )


def average_tables(folders: list[Path], output_dir: Path, spec: DatasetSpec) -> Path:
    """Classification: averages the class probabilities of the folders' predictions tables case by case."""
    tables = [read_predictions(folder, spec) for folder in folders]
    for folder, table in zip(folders[1:], tables[1:]):
        if set(table) != set(tables[0]):
            differing = sorted(set(table) ^ set(tables[0]))
            raise AutosegError(
                f"{folder} and {folders[0]} hold different cases ({', '.join(differing[:10])}); ensemble folders predicted from "
                "the same input."
            )
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "predictions.csv"
    write_predictions(path, {case_id: np.mean([table[case_id] for table in tables], axis=0) for case_id in tables[0]}, spec)
    return path
