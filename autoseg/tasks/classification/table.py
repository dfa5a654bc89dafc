"""The classification predictions table (``predictions.csv``) and the reference labels table.

``predictions.csv`` (written by ``autoseg predict`` and the whole-case validation) has one row per case:
``case_id``, ``prediction`` (class name) and ``probability_{class}`` for every class, the folds' and mirrorings'
mean (with ``--save_uncertainty`` also ``spread_{class}``). Several ``predictions*.csv`` in one folder
(``--num_parts``) are read as one table. Reading checks every row: as many cells as the header, each case once,
probabilities that are numbers in [0, 1], and a ``prediction`` naming a class.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from autoseg.dataset import DatasetSpec
from autoseg.errors import AutosegError
from autoseg.io import atomic_write
from autoseg.tasks.classification.references import read_class_table


def class_names(spec: DatasetSpec) -> list[str]:
    """Class names in index order."""
    return sorted(spec.classes, key=spec.classes.get)


def write_predictions(
    path: Path, probabilities: dict[str, np.ndarray], spec: DatasetSpec, spreads: dict[str, np.ndarray] | None = None
) -> None:
    """Writes {case id: probabilities (K,)} as a predictions table, atomically, cases sorted; ``spreads``: each
    class's spread across folds, as ``spread_{class}`` columns after the probabilities."""
    names = class_names(spec)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    spread_columns = [f"spread_{name}" for name in names] if spreads is not None else []
    writer.writerow(["case_id", "prediction", *(f"probability_{name}" for name in names), *spread_columns])
    for case_id in sorted(probabilities):
        values = np.asarray(probabilities[case_id], dtype=np.float64)
        spread = [f"{v:.6f}" for v in spreads[case_id]] if spreads is not None else []
        writer.writerow([case_id, names[int(np.argmax(values))], *(f"{v:.6f}" for v in values), *spread])
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: tmp.write_text(text.getvalue()))


def read_predictions(
    folder: Path, spec: DatasetSpec, files: list[Path] | None = None, prefix: str = "probability"
) -> dict[str, np.ndarray]:
    """Reads every ``predictions*.csv`` in ``folder`` (or just ``files``): {case id: probabilities (K,)} (or
    with ``prefix="spread"``, the spreads across folds ``--save_uncertainty`` wrote)."""
    files = sorted(Path(folder).glob("predictions*.csv")) if files is None else files
    if not files:
        raise AutosegError(f"{folder} holds no predictions.csv; predict the folder with a classification model first.")
    names = class_names(spec)
    columns = [f"{prefix}_{name}" for name in names]
    table: dict[str, np.ndarray] = {}
    for path in files:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        if rows and not set(["case_id", *columns]) <= set(rows[0]):
            raise AutosegError(
                f"{path} lacks columns {', '.join(sorted(set(['case_id', *columns]) - set(rows[0])))}; it was not written for "
                f"the classes {', '.join(names)}."
            )
        for line, row in enumerate(rows, start=2):
            table.update(_table_row(row, line, path, columns=columns, names=names, table=table, folder=folder))
    return table


def _table_row(row: dict, line: int, path: Path, *, columns: list[str], names: list[str], table: dict, folder) -> dict[str, np.ndarray]:
    """{case id: values} of one checked row: as many cells as the header, a case predicted once, probabilities
    that are numbers in [0, 1], and a ``prediction`` that names a class."""
    where = f"{path} line {line}"
    if None in row or None in row.values():  # csv.DictReader's marks of a row longer or shorter than the header
        raise AutosegError(f"{where}: the row has {'more' if None in row else 'fewer'} cells than the header; write one cell per column.")
    case_id = row["case_id"]
    if case_id in table:
        raise AutosegError(f"{where}: case {case_id!r} is predicted twice in {folder}.")
    try:
        values = np.array([float(row[column]) for column in columns])
    except ValueError as error:
        raise AutosegError(f"{where}: {error}; probabilities must be numbers.") from error
    if not np.isfinite(values).all():
        raise AutosegError(
            f"{where}: case {case_id!r} has a NaN or infinite probability; it cannot be scored or ensembled. Predict it again."
        )
    outside = [f"{column} = {value:g}" for column, value in zip(columns, values) if not -1e-6 <= value <= 1 + 1e-6]
    if outside:
        raise AutosegError(f"{where}: case {case_id!r} has {', '.join(outside)}; probabilities lie in [0, 1]. Predict it again.")
    if "prediction" in row and row["prediction"] not in names:
        raise AutosegError(
            f"{where}: case {case_id!r} is predicted as {row['prediction']!r}, which is not a class of dataset.json "
            f"({', '.join(names)}); predict it again."
        )
    return {case_id: values}


def read_references(path: Path, spec: DatasetSpec) -> dict[str, int]:
    """{case id: class index} from a labels table (``labelsTs.csv``; or a folder holding labelsTs.csv or labelsTr.csv)."""
    path = Path(path)
    if path.is_dir():
        path = next((path / name for name in ("labelsTs.csv", "labelsTr.csv") if (path / name).is_file()), path / "labelsTs.csv")
    if not path.is_file():
        raise AutosegError(f"{path} not found; give the reference labels table (case_id,label rows).")
    table, problems = read_class_table(path, spec)
    if problems:
        raise AutosegError(f"{path}: " + "; ".join(str(p) for p in problems[:5]))
    return {case_id: label.class_index for case_id, label in table.items()}
