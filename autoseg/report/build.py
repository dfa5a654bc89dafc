"""``autoseg report``: one HTML page to look at a folder of predictions before trusting its numbers.

The page holds a sortable table of the cases, worst first, with their metrics
(scored against ``reference`` with the evaluation's own code, or read from the
folder's summary.json) and uncertainty scores where the prediction saved them;
then the distributions of the metrics, one figure per case, and the training
curves of the model that predicted the folder (named in its prediction.json).
What a case's figure shows follows what the model writes (the task's
``target_resampling``): label maps are drawn over the input image through
the structure's centroid in three planes (prediction filled, reference
outlined), images side by side with the reference and their difference, and
a classification table as its confusion matrix and ROC curves.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from functools import cached_property
from pathlib import Path

import numpy as np

import autoseg.report.figures as figures
from autoseg.dataset import DatasetSpec
from autoseg.errors import AutosegError
from autoseg.evaluation import read_summary
from autoseg.evaluation.classification import class_names, classification_summary, read_predictions, read_references
from autoseg.evaluation.image_metrics import body_mask
from autoseg.inference.inputs import collect_input_cases
from autoseg.io import atomic_write, read_image, split_ending
from autoseg.report.page import Column, Figure, Section, render_page
from autoseg.tasks import task_for
from autoseg.tasks.writers import UNCERTAINTY_TABLE, read_uncertainty_table


class Source:
    """What the report reads: the prediction folder, its dataset.json and prediction.json, the references and
    the input images (``images``, else the folder prediction.json says was predicted)."""

    def __init__(self, prediction_dir: Path, reference: Path | None, images: Path | None, num_processes: int | None):
        self.folder = Path(prediction_dir)
        if not self.folder.is_dir():
            raise AutosegError(f"{self.folder} is not a folder of predictions.")
        spec_file = self.folder / "dataset.json"
        if not spec_file.is_file():
            raise AutosegError(f"{self.folder} has no dataset.json; report on a folder autoseg predict wrote (it writes one).")
        self.spec = DatasetSpec.from_json(json.loads(spec_file.read_text()), str(spec_file))
        self.task = task_for(self.spec)
        settings_file = self.folder / "prediction.json"
        self.settings = json.loads(settings_file.read_text()) if settings_file.is_file() else {}
        self.reference = Path(reference) if reference is not None else None
        recorded = self.settings.get("input")
        self.images = Path(images) if images is not None else (Path(recorded) if recorded and Path(recorded).is_dir() else None)
        self.num_processes = num_processes

    def summary(self) -> tuple[dict | None, str]:
        """The folder's scores and where they come from: scored now against the references, else the summary.json
        ``autoseg evaluate`` wrote, else none."""
        if self.reference is not None:
            return self.task.evaluate_folder(
                self.reference, self.folder, num_processes=self.num_processes
            ), f"scored against {self.reference}"
        if (self.folder / "summary.json").is_file():
            return read_summary(
                self.folder / "summary.json"
            ), "scores from summary.json (autoseg evaluate); pass --reference to score again"
        return None, "no references given (--reference): no scores"

    def uncertainty(self) -> dict[str, dict[str, float]]:
        table = self.folder / UNCERTAINTY_TABLE
        return read_uncertainty_table(table) if table.is_file() else {}

    @cached_property
    def output_ending(self) -> str:
        """The ending most prediction files in the folder have (the input's format; NIfTI for DICOM input)."""
        endings = Counter(split[1].lower() for p in self.folder.iterdir() if p.is_file() and (split := split_ending(p)))
        return endings.most_common(1)[0][0] if endings else self.spec.file_ending

    def cases(self) -> list[str]:
        """The predicted cases: the task's output files (uncertainty maps lie in their own folder)."""
        cases = self.task.cases_in(self.folder, self.output_ending)
        if not cases:
            raise AutosegError(f"{self.folder} holds no predictions ({self.output_ending} files named like the cases).")
        return cases

    def input_files(self) -> dict[str, list[Path]]:
        """{case id: channel files} of the input images, where known."""
        if self.images is None:
            return {}
        return {case.case_id: list(case.files) for case in collect_input_cases(self.images, self.spec.num_channels)}

    def reference_file(self, name: str) -> Path | None:
        """The reference image file named ``name`` plus any supported ending."""
        if self.reference is None or not self.reference.is_dir():
            return None
        return next((p for p in sorted(self.reference.glob(f"{name}.*")) if (s := split_ending(p)) and s[0] == name), None)


def _rows_worst_first(rows: list[dict], key: str, worst_is_low: bool = True) -> list[dict]:
    def order(row):
        value = row.get(key)
        missing = value is None or not isinstance(value, (int, float)) or math.isnan(value)
        return (missing, (value if worst_is_low else -value) if not missing else 0, str(row.get("case", "")))

    return sorted(rows, key=order)


def _distributions(per_case: dict, metrics: list[str], what: str) -> Section:
    return Section("metric distributions", [Figure(f"{what}, over the cases", figures.metric_distributions(per_case, metrics))])


def _finite_mean(values) -> float:
    finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def label_map_report(source: Source) -> tuple[list[str], list[Column], list[dict], list[Section]]:
    """Segmentation-like models: Dice, HD95 and NSD per structure, volumes, uncertainty; overlays per case."""
    summary, origin = source.summary()
    uncertainty = source.uncertainty()
    structures = source.task.evaluation_structures()
    inputs = source.input_files()
    ending = source.output_ending
    per_case = summary["cases"] if summary else {}
    columns = [Column("case", "case", numeric=False)]
    if summary:
        columns.append(Column("mean_dice", "mean Dice"))
        columns += [
            Column(f"{metric}:{name}", f"{label} {name}")
            for name in structures
            for metric, label in (("dice", "Dice"), ("hd95", "HD95 mm"), ("nsd", "NSD"))
        ]
    cases = source.cases()
    unit = "mL" if read_image(source.folder / f"{cases[0]}{ending}").geometry.ndim == 3 else "cm2"
    columns += [Column(f"volume:{name}", f"predicted {name} ({unit})") for name in structures]
    if uncertainty:
        columns += [Column(f"uncertainty:{name}", f"entropy {name}") for name in structures]
    rows, sections = [], []
    for case_id in cases:
        predicted = read_image(source.folder / f"{case_id}{ending}")
        labels, spacing = predicted.array[0], predicted.geometry.spacing
        row = {"case": case_id, "anchor": f"case-{case_id}"}
        for name, values in structures.items():
            row[f"volume:{name}"] = float(np.isin(labels, values).sum() * np.prod(spacing) / 10 ** len(spacing))  # mm3 -> mL, mm2 -> cm2
            row[f"uncertainty:{name}"] = uncertainty.get(case_id, {}).get(name)
            for metric in ("dice", "hd95", "nsd"):
                row[f"{metric}:{name}"] = per_case.get(case_id, {}).get(name, {}).get(metric)
        row["mean_dice"] = _finite_mean(row[f"dice:{name}"] for name in structures) if summary else None
        reference_path = source.reference_file(case_id)
        reference = read_image(reference_path).array[0] if reference_path is not None else None
        image = read_image(inputs[case_id][0]).array[0].astype(np.float32) if case_id in inputs else None
        png = figures.segmentation_overlay(image, labels, reference, spacing, case_id, source.spec.label_names())
        sections.append(Section(f"case {case_id}", [Figure(f"{case_id}: prediction filled, reference outlined", png)], row["anchor"]))
        rows.append(row)
    if summary:
        rows = _rows_worst_first(rows, "mean_dice")
        sections.insert(0, _distributions(per_case, ["dice", "hd95", "nsd"], "per structure"))
    elif uncertainty:
        for row in rows:
            row["worst"] = -_finite_mean(row[f"uncertainty:{name}"] for name in structures)
        rows = _rows_worst_first(rows, "worst")
    notes = [origin + ("; worst first by mean Dice" if summary else "; most uncertain first" if uncertainty else "")]
    notes.append("images: " + (f"channel 0 of the inputs in {source.images}" if inputs else "unknown (pass --images), shown on black"))
    return notes, columns, rows, sections


def image_report(source: Source) -> tuple[list[str], list[Column], list[dict], list[Section]]:
    """Image-to-image models: PSNR, SSIM and MAE per target (and the input's); prediction, reference, difference."""
    summary, origin = source.summary()
    if source.reference is not None and source.images is not None and source.spec.baselines():
        summary = source.task.evaluate_folder(
            source.reference, source.folder, num_processes=source.num_processes, baseline_dir=source.images
        )
    per_case = summary["cases"] if summary else {}
    baseline = summary.get("baseline", {}).get("cases", {}) if summary else {}
    targets = list(source.spec.targets.values())
    inputs = source.input_files()
    ending = source.output_ending
    columns = [Column("case", "case", numeric=False)]
    for name in targets:
        columns += [
            Column(f"psnr:{name}", f"PSNR {name} (dB)", digits=2),
            Column(f"ssim:{name}", f"SSIM {name}"),
            Column(f"mae:{name}", f"MAE {name}"),
        ]
        if baseline:
            columns.append(Column(f"gain:{name}", f"PSNR gain over input {name} (dB)", digits=2))
    rows, sections = [], []
    for case_id in source.cases():
        row = {"case": case_id, "anchor": f"case-{case_id}"}
        pictures = []
        for index, (name, path) in enumerate(zip(targets, source.task.output_files(case_id, source.folder, ending))):
            for metric in ("psnr", "ssim", "mae"):
                row[f"{metric}:{name}"] = per_case.get(case_id, {}).get(name, {}).get(metric)
            if baseline:
                row[f"gain:{name}"] = (row[f"psnr:{name}"] or math.nan) - baseline.get(case_id, {}).get(name, {}).get("psnr", math.nan)
            predicted = read_image(path)
            reference_name = path.name[: -len(ending)]
            reference_path = source.reference_file(reference_name)
            reference = read_image(reference_path).array[0].astype(np.float32) if reference_path is not None else None
            channel = source.spec.baselines().get(index)
            base = read_image(inputs[case_id][channel]).array[0].astype(np.float32) if case_id in inputs and channel is not None else None
            mask = body_mask(reference) if reference is not None else None
            png = figures.regression_panels(
                predicted.array[0].astype(np.float32), reference, base, mask, predicted.geometry.spacing, f"{case_id}: {name}"
            )
            pictures.append(Figure(f"{case_id}, {name}", png))
        sections.append(Section(f"case {case_id}", pictures, row["anchor"]))
        row["worst"] = _finite_mean(row[f"psnr:{name}"] for name in targets)
        rows.append(row)
    if summary:
        rows = _rows_worst_first(rows, "worst")
        sections.insert(0, _distributions(per_case, ["psnr", "ssim", "mae"], "per target"))
    notes = [origin + ("; worst first by PSNR" if summary else ""), "metrics inside the reference's body mask (docs/evaluation.md)"]
    return notes, columns, rows, sections


def table_report(source: Source) -> tuple[list[str], list[Column], list[dict], list[Section]]:
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
        rows = _rows_worst_first(rows, "worst")
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


VIEWS = {"label": label_map_report, "linear": image_report, None: table_report}  # by the task's target_resampling


def training_curves(source: Source) -> list[Section]:
    """The progress.png of each fold of the model that predicted the folder, where it is still there."""
    model = Path(source.settings["model"]) if source.settings.get("model") else None
    if model is None:
        return []
    found = [(fold, model / f"fold_{fold}" / "progress.png") for fold in source.settings.get("folds", [])]
    pictures = [Figure(f"fold {fold}", path.read_bytes()) for fold, path in found if path.is_file()]
    notes = f"{model}" + ("" if pictures else ": no progress.png found (the model folder moved?)")
    return [Section("training curves", pictures, notes=notes)]


def build_report(
    prediction_dir: Path,
    reference: Path | None = None,
    output: Path | None = None,
    images: Path | None = None,
    num_processes: int | None = None,
) -> Path:
    """Writes the QC report of ``prediction_dir`` (see the module's description) to ``output`` (default:
    PRED_DIR/report.html), atomically; returns its path."""
    source = Source(prediction_dir, reference, images, num_processes)
    view = VIEWS.get(source.task.target_resampling)
    if view is None:
        raise AutosegError(f"autoseg report has no view of {source.task.name} predictions.")
    notes, columns, rows, sections = view(source)
    page = render_page(f"autoseg report: {source.folder.name}", notes, columns, rows, sections + training_curves(source))
    output = Path(output) if output is not None else source.folder / "report.html"
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(output, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    return output
