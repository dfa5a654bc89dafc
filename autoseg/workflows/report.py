"""``autoseg report``: one HTML page to look at a folder of predictions before trusting its numbers.

The page holds a sortable table of the cases, worst first, with their metrics
(scored against ``reference`` with the evaluation's own code, or read from the
folder's summary.json) and uncertainty scores where the prediction saved them;
then the distributions of the metrics, one figure per case, and the training
curves of the model that predicted the folder (named in its prediction.json).
What the table and a case's figure show is the task kind's view (``Task.report_view``, in
autoseg/tasks/<kind>/report.py): label maps in a slice viewer over the input image, each plane opening where
prediction and reference disagree most (prediction filled, reference outlined, one colour per structure); images
side by side with the reference and their difference; a classification table as its confusion matrix and ROC
curves.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cached_property
from pathlib import Path

from autoseg.dataset import DatasetSpec
from autoseg.errors import AutosegError
from autoseg.evaluation import read_summary
from autoseg.inference.inputs import collect_input_cases
from autoseg.io import atomic_write, split_ending
from autoseg.report.page import Figure, Section, render_page
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


def training_curves(source: Source) -> list[Section]:
    """The progress.png of each fold of the model that predicted the folder, where it is still there."""
    model = Path(source.settings["model"]) if source.settings.get("model") else None
    if model is None:
        return []
    found = [(fold, model / f"fold_{fold}" / "progress.png") for fold in source.settings.get("folds", [])]
    pictures = [Figure(f"fold {fold}", path.read_bytes()) for fold, path in found if path.is_file()]
    notes = f"{model}" + ("" if pictures else ": no progress.png found (the model folder moved?)")
    return [Section("training curves", pictures, notes=notes, compact=True)]


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
    notes, columns, rows, sections = source.task.report_view(source)
    order = {row.get("anchor"): index for index, row in enumerate(rows)}
    cases = iter(sorted((s for s in sections if s.case), key=lambda section: order.get(section.anchor, len(order))))
    sections = [next(cases) if section.case else section for section in sections]  # the cases in the table's order
    page = render_page(f"autoseg report: {source.folder.name}", notes, columns, rows, sections + training_curves(source))
    output = Path(output) if output is not None else source.folder / "report.html"
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(output, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    return output
