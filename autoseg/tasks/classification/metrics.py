"""Classification metrics over a set of cases, and the summary.json of classified cases.

Metrics, over cases with reference class r and predicted class p (the most probable):

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

import math

import numpy as np

from autoseg.dataset import DatasetSpec
from autoseg.errors import AutosegError
from autoseg.tasks.classification.table import class_names

CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "sensitivity", "specificity", "auc")


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


def classification_text(summary: dict, baseline: dict | None = None) -> str:
    """The metrics and the confusion matrix of a summary (and a baseline's metrics beside them), as printed."""
    metrics = summary["metrics"]
    lines = [f"{'metric':<20}{'model':>10}" + (f"{'baseline':>10}" if baseline else "")]
    lines += [f"{name:<20}{metrics[name]:>10.4f}" + (f"{baseline[name]:>10.4f}" if baseline else "") for name in CLASSIFICATION_METRICS]
    names = summary["classes"]
    lines.append(f"confusion matrix ({metrics['cases']} cases; rows: reference, columns: prediction)")
    lines.append(f"{'':<16}" + "".join(f"{name:>10}" for name in names))
    lines += [f"{name:<16}" + "".join(f"{count:>10d}" for count in row) for name, row in zip(names, metrics["confusion_matrix"])]
    return "\n".join(lines)
