"""Where predicted cases go: image files in the input's geometry and units (``ImageWriter``), with the class
probabilities (``--save_probabilities``) and the uncertainty maps and per-case scores (``--save_uncertainty``).

Uncertainty maps are written into one folder per map, each named as the prediction it describes
(``uncertainty/entropy/CASE.nii.gz``, ``uncertainty/mutual_information/CASE.nii.gz``; regression
``uncertainty/std/CASE.nii.gz``), so no case id can name another case's map; each case's scores (one per
structure or target) go to ``uncertainty.csv``, rewritten after every case.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from autoseg.errors import AutosegError
from autoseg.inference.export import save_probabilities
from autoseg.io import ImageData, atomic_write, file_ending, write_image
from autoseg.io.dicom_seg import DICOM_SEG, DICOM_SEG_ENDING, missing_frame_of_reference, require_highdicom, write_dicom_seg
from autoseg.version import __version__

if TYPE_CHECKING:
    from autoseg.tasks.base import Task

UNCERTAINTY_TABLE = "uncertainty.csv"
UNCERTAINTY_FOLDER = "uncertainty"


def refuse_non_finite_output(output: torch.Tensor, case_id: str) -> None:
    """A network output with NaN or infinite values is an error naming the case, never a written prediction."""
    bad = int((~torch.isfinite(output)).sum())
    if bad:
        raise AutosegError(
            f"case {case_id}: the network's output holds {bad} NaN or infinite value(s) of {output.numel()}; nothing was written "
            "for it. The model may have diverged (see its training_log.txt), or the case's images hold extreme values (check "
            "them with autoseg verify)."
        )


def on_device_or_cpu(compute, device, what: str):
    """``compute(device)``, and again on the CPU when the device runs out of memory (a volume whose raw-grid
    arrays do not fit there), with a one-line notice."""
    try:
        return compute(device)
    except torch.OutOfMemoryError:
        print(f"notice: {device} ran out of memory {what}; doing it on the CPU (slower)", file=sys.stderr)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return compute(torch.device("cpu"))


def uncertainty_file(prediction: Path, name: str) -> Path:
    """``OUTPUT/CASE{ending}`` -> ``OUTPUT/uncertainty/{name}/CASE{ending}``: the map ``name`` of a prediction file."""
    return prediction.parent / UNCERTAINTY_FOLDER / name / prediction.name


class ImageWriter:
    """Writes each predicted case to its output files in the raw geometry and units (``Task.restore``); with
    ``save_probabilities`` also its class probabilities as ``{case}.npz``; with ``save_uncertainty`` its
    uncertainty maps and a row of ``uncertainty.csv`` (which ``resume`` keeps). ``output_format``
    ``"dicom_seg"``: label maps go to ``{case}.dcm`` DICOM Segmentation objects referencing the DICOM series
    each case was read from (``write``'s ``source``); uncertainty maps stay NIfTI."""

    def __init__(
        self,
        task: Task,
        folder: Path,
        *,
        plans,
        configuration,
        save_probabilities: bool = False,
        save_uncertainty: bool = False,
        resume: bool = False,
        output_format: str | None = None,
    ):
        self.task, self.folder, self.plans, self.configuration = task, Path(folder), plans, configuration
        self.save_probabilities, self.save_uncertainty = save_probabilities, save_uncertainty
        self.dicom_seg = output_format == DICOM_SEG  # label maps only: see check_image_output_format
        self.folder.mkdir(parents=True, exist_ok=True)
        table = self.folder / UNCERTAINTY_TABLE
        self.scores: dict[str, dict[str, float]] = read_uncertainty_table(table) if save_uncertainty and resume and table.is_file() else {}

    def files(self, case_id: str, ending: str | None = None) -> list[Path]:
        """The prediction and probability files ``write`` makes for a case."""
        probabilities = [self.folder / f"{case_id}.npz"] if self.save_probabilities else []
        return self._prediction_files(case_id, ending) + probabilities

    def _prediction_files(self, case_id: str, ending: str | None) -> list[Path]:
        if self.dicom_seg:
            return [self.folder / f"{case_id}{DICOM_SEG_ENDING}"]
        return self.task.output_files(case_id, self.folder, ending)

    def done(self, case_id: str, ending: str | None = None) -> bool:
        written = all(path.is_file() for path in self.files(case_id, ending))
        return written and (not self.save_uncertainty or case_id in self.scores)

    def write(
        self, case_id: str, output, properties, *, ending: str | None = None, device=None, fold_outputs=None, source: Path | None = None
    ) -> list[Path]:
        """Writes one case; ``fold_outputs`` (each fold's output, as ``output`` is their mean) for uncertainty;
        ``source``: the DICOM series folder the case was read from (DICOM-SEG output)."""
        refuse_non_finite_output(output, case_id)
        if self.dicom_seg and source is None:
            raise AutosegError(f"case {case_id}: --output_format {DICOM_SEG} needs the case's DICOM series; it was not read from one.")
        ending = ending or self.task.spec.file_ending
        image_files, files = self.task.output_files(case_id, self.folder, ending), self._prediction_files(case_id, ending)
        geometry = properties.original_geometry
        result = on_device_or_cpu(
            lambda place: self.task.restore(
                output, properties, self.configuration, plans=self.plans, probabilities=self.save_probabilities, device=place
            ),
            device,
            f"restoring case {case_id}",
        )
        for image, path in zip(result.images, files):
            if self.dicom_seg:
                write_dicom_seg(
                    image,
                    source,
                    path,
                    names=self.task.spec.label_names(),
                    software_version=__version__,
                    label_codes=self.task.spec.label_codes(),
                )
            else:
                write_image(ImageData(image[None], geometry), path)
        if self.save_probabilities:
            save_probabilities(result.probabilities, self.folder / f"{case_id}.npz")
        if not self.save_uncertainty:
            return files
        if fold_outputs is None:
            raise ValueError("save_uncertainty needs each fold's output")
        maps = on_device_or_cpu(
            lambda place: self.task.uncertainty_maps(fold_outputs, properties, self.configuration, self.plans, device=place),
            device,
            f"computing the uncertainty of case {case_id}",
        )
        written = list(files)
        for name, images in maps.items():
            for image, path in zip(images, image_files):
                written.append(uncertainty_file(path, name))
                write_image(ImageData(image[None].astype(np.float32), geometry), written[-1])
        self.scores[case_id] = self.task.uncertainty_scores(maps, result)
        write_uncertainty_table(self.folder / UNCERTAINTY_TABLE, self.scores)
        return written

    def close(self) -> list[Path]:
        """The uncertainty table (also when no case was left to predict)."""
        if not self.save_uncertainty:
            return []
        write_uncertainty_table(self.folder / UNCERTAINTY_TABLE, self.scores)
        return [self.folder / UNCERTAINTY_TABLE]


def write_uncertainty_table(path: Path, scores: dict[str, dict[str, float]]) -> None:
    """``case_id`` and one column per structure (or target), cases sorted; an empty cell where a structure was not
    predicted in a case."""
    columns = list(dict.fromkeys(name for row in scores.values() for name in row))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["case_id", *columns])
    for case_id in sorted(scores):
        row = scores[case_id]
        writer.writerow([case_id, *("" if math.isnan(row.get(name, math.nan)) else f"{row[name]:.6g}" for name in columns)])
    atomic_write(path, lambda tmp: tmp.write_text(text.getvalue()))


def read_uncertainty_table(path: Path) -> dict[str, dict[str, float]]:
    with path.open(newline="") as handle:
        return {
            row.pop("case_id"): {name: float(value) if value else math.nan for name, value in row.items()} for row in csv.DictReader(handle)
        }


def check_image_output_format(task: Task, output_format: str | None, cases: list) -> None:
    """Refuses, before anything is predicted, an ``output_format`` the model or the input ``cases`` (InputCase) cannot
    give: an unknown or read-only ending, DICOM-SEG of images (not label maps), of cases not read from a DICOM
    series, of series without a Frame of Reference UID, or without highdicom installed."""
    if output_format is None:
        return
    if output_format != DICOM_SEG:
        ending = file_ending(f"prediction{output_format}")
        if ending != output_format.lower():
            raise AutosegError(f"--output_format {output_format}: give an image ending such as .nii.gz, .nrrd or .mha, or {DICOM_SEG}.")
        return
    if not task.target_is_label:
        raise AutosegError(f"--output_format {DICOM_SEG} writes label maps; a {task.name} model predicts images. Leave it out.")
    not_dicom = [case.case_id for case in cases if case.dicom_series is None]
    if not_dicom:
        raise AutosegError(
            f"--output_format {DICOM_SEG} references the DICOM series a case was read from; {len(not_dicom)} case(s) are image files "
            f"({', '.join(not_dicom[:5])}{' ...' if len(not_dicom) > 5 else ''}). Give each as a folder holding its series "
            "(CASE_0000/), or choose an image format."
        )
    require_highdicom()
    missing = missing_frame_of_reference([case.dicom_series for case in cases])
    if missing:
        raise AutosegError(
            f"--output_format {DICOM_SEG}: the series {', '.join(str(path) for path in missing[:3])}{' ...' if len(missing) > 3 else ''} "
            "carry no Frame of Reference UID, which a DICOM Segmentation must share with its source images; nothing was predicted. "
            "Give the series their Frame of Reference UID (the scanner's export usually has it), or choose an image format."
        )
