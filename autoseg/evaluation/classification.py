"""Classification: the predictions table (CSV) and metrics over a set of cases.

``predictions.csv`` (written by ``autoseg predict`` and the whole-case
validation) has one row per case: ``case_id``, ``prediction`` (class name)
and ``probability_{class}`` for every class, the folds' and mirrorings'
mean. Several ``predictions*.csv`` in one folder (``--num_parts``) are read
as one table.

Metrics, over cases with reference class r and predicted class p (the most
probable):

* accuracy: the fraction with p = r;
* balanced accuracy: the mean over the classes present in the references of
  each class's recall (so a majority-class guess scores 1 / K);
* sensitivity and specificity: for two classes, the recall of the second
  class (index 1: the disease, AD; lesion) and of the first; for more, the
  mean over classes of each one-vs-rest value;
* AUC: for two classes, the area under the ROC curve of the second class's
  probability (Mann-Whitney, ties counted half); for more, the mean of the
  one-vs-rest AUCs. NaN where a class has no positive or no negative case;
* confusion matrix: rows are references, columns predictions, in class-index order.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from autoseg.dataset import DatasetSpec, read_class_table
from autoseg.errors import AutosegError
from autoseg.io import atomic_write

CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "sensitivity", "specificity", "auc")


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
            table.update(_table_row(row, line, path, columns, names, table, folder))
    return table


def _table_row(row: dict, line: int, path: Path, columns: list[str], names: list[str], table: dict, folder) -> dict[str, np.ndarray]:
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


def auc_one_vs_rest(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the boolean ``positive`` (Mann-Whitney U; ties count half)."""
    positives, negatives = int(positive.sum()), int((~positive).sum())
    if positives == 0 or negatives == 0:
        return math.nan
    ranks = _average_ranks(scores)
    return float((ranks[positive].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    start = 0
    while start < len(values):
        stop = start
        while stop + 1 < len(values) and sorted_values[stop + 1] == sorted_values[start]:
            stop += 1
        ranks[order[start : stop + 1]] = (start + stop) / 2 + 1
        start = stop + 1
    return ranks


def classification_metrics(references: np.ndarray, probabilities: np.ndarray) -> dict:
    """Metrics of the module's description for references (N,) and probabilities (N, K)."""
    references = np.asarray(references, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    classes = probabilities.shape[1]
    predicted = probabilities.argmax(1)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (references, predicted), 1)
    present = confusion.sum(1) > 0
    recall = np.divide(np.diag(confusion), confusion.sum(1), out=np.full(classes, np.nan), where=present)
    negatives = len(references) - confusion.sum(1)
    true_negatives = negatives - (confusion.sum(0) - np.diag(confusion))
    specificity = np.divide(true_negatives, negatives, out=np.full(classes, np.nan), where=negatives > 0)
    aucs = [auc_one_vs_rest(probabilities[:, k], references == k) for k in range(classes)]
    binary = classes == 2
    return {
        "accuracy": float(np.mean(predicted == references)) if len(references) else math.nan,
        "balanced_accuracy": float(np.nanmean(recall)) if present.any() else math.nan,
        "sensitivity": float(recall[1]) if binary else _nanmean(recall),
        "specificity": float(specificity[1]) if binary else _nanmean(specificity),
        "auc": aucs[1] if binary else _nanmean(np.array(aucs)),
        "confusion_matrix": confusion.tolist(),
        "cases": int(len(references)),
    }


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if len(finite) else math.nan


def classification_summary(probabilities: dict[str, np.ndarray], references: dict[str, int], spec: DatasetSpec) -> dict:
    """The summary.json of classified cases: per case the reference, the prediction and the probabilities;
    the metrics over all of them; ``classes`` in index order. Every reference needs a prediction."""
    missing = sorted(set(references) - set(probabilities))
    if missing:
        raise AutosegError(
            f"no prediction for {len(missing)} reference case(s): {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}."
        )
    names = class_names(spec)
    case_ids = sorted(references)
    matrix = np.array([probabilities[case_id] for case_id in case_ids]).reshape(len(case_ids), len(names))
    cases = {
        case_id: {
            "reference": names[references[case_id]],
            "prediction": names[int(np.argmax(row))],
            "probabilities": dict(zip(names, map(float, row))),
        }
        for case_id, row in zip(case_ids, matrix)
    }
    return {"classes": names, "cases": cases, "metrics": classification_metrics(np.array([references[c] for c in case_ids]), matrix)}


def print_classification(summary: dict, baseline: dict | None = None) -> None:
    """Prints the metrics and the confusion matrix (and a baseline's metrics beside them)."""
    metrics = summary["metrics"]
    print(f"{'metric':<20}{'model':>10}" + (f"{'baseline':>10}" if baseline else ""))
    for name in CLASSIFICATION_METRICS:
        print(f"{name:<20}{metrics[name]:>10.4f}" + (f"{baseline[name]:>10.4f}" if baseline else ""))
    names = summary["classes"]
    print(f"confusion matrix ({metrics['cases']} cases; rows: reference, columns: prediction)")
    print(f"{'':<16}" + "".join(f"{name:>10}" for name in names))
    for name, row in zip(names, metrics["confusion_matrix"]):
        print(f"{name:<16}" + "".join(f"{count:>10d}" for count in row))
