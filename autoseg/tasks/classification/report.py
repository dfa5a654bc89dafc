"""Classification's view in the QC report: each case's class and probabilities, wrong and least confident first;
the confusion matrix and ROC curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import autoseg.report.figures as figures
from autoseg.report.page import Column, Figure, Section
from autoseg.report.views import rows_worst_first
from autoseg.tasks.classification.metrics import classification_summary
from autoseg.tasks.classification.table import class_names, read_predictions, read_references


def table_report(source) -> tuple[list[str], list[Column], list[dict], list[Section]]:
    """Classification: each case's class and probabilities, wrong answers first; confusion matrix and ROC curves."""
    names = class_names(source.spec)
    probabilities = read_predictions(source.folder, source.spec)
    spreads = read_predictions(source.folder, source.spec, prefix="spread") if _has_spreads(source.folder) else {}
    references = read_references(source.reference, source.spec) if source.reference is not None else {}
    columns = [Column("case", "case", numeric=False), Column("prediction", "prediction", numeric=False)]
    if references:
        columns += [Column("reference", "reference", numeric=False), Column("correct", "correct", numeric=False)]
    columns += [Column(f"p:{name}", f"P({name})") for name in names] + [
        Column(f"spread:{name}", f"spread {name}") for name in names if spreads
    ]
    rows = []
    for case_id, p in sorted(probabilities.items()):
        row = {"case": case_id, "prediction": names[int(np.argmax(p))], **{f"p:{n}": float(v) for n, v in zip(names, p)}}
        row.update({f"spread:{n}": float(v) for n, v in zip(names, spreads.get(case_id, []))})
        if case_id in references:
            row["reference"] = names[references[case_id]]
            row["correct"] = "yes" if row["reference"] == row["prediction"] else "no"
            row["worst"] = float(p[references[case_id]])  # the probability given to the right class
        rows.append(row)
    sections = []
    notes = ["predictions.csv" + (f", scored against {source.reference}; wrong and least confident first" if references else "")]
    if references:
        rows = rows_worst_first(rows, "worst")
        scored = {case_id: probabilities[case_id] for case_id in references if case_id in probabilities}
        summary = classification_summary(scored, references, source.spec)
        metrics = summary["metrics"]
        notes.append(
            ", ".join(
                f"{key.replace('_', ' ')} {metrics[key]:.3f}"
                for key in ("accuracy", "balanced_accuracy", "sensitivity", "specificity", "auc")
            )
        )
        ids = sorted(references)
        truth = np.array([references[c] for c in ids])
        matrix = np.array([probabilities[c] for c in ids])
        sections.append(
            Section(
                "confusion matrix and ROC",
                [
                    Figure("confusion matrix (rows: reference)", figures.confusion_matrix(metrics["confusion_matrix"], names)),
                    Figure("ROC curves", figures.roc_curves(truth, matrix, names)),
                ],
            )
        )
    return notes, columns, rows, sections


def _has_spreads(folder: Path) -> bool:
    first = next(iter(sorted(folder.glob("predictions*.csv"))), None)
    return first is not None and "spread_" in first.read_text().splitlines()[0]
