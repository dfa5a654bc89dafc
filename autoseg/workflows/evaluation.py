"""``autoseg evaluate``: score a folder of predictions (label maps, regression images or a classification table)
against the references, as the dataset's task scores its kind."""

from __future__ import annotations

import json
from pathlib import Path

from autoseg.dataset import DatasetSpec
from autoseg.errors import AutosegError
from autoseg.evaluation import Structures, write_summary
from autoseg.evaluation.folders import evaluate_label_folders, label_map_table
from autoseg.tasks import task_for


def _dataset_spec(dataset_json: Path) -> DatasetSpec:
    if not dataset_json.is_file():
        raise AutosegError(f"{dataset_json} not found; pass the dataset's dataset.json with -dj, or the labels to score with -l.")
    return DatasetSpec.from_json(json.loads(dataset_json.read_text()), str(dataset_json))


def evaluate_folders(
    reference_dir: Path,
    prediction_dir: Path,
    *,
    dataset_json: Path | None = None,
    num_processes: int | None = None,
    structures: Structures | None = None,
    baseline_dir: Path | None = None,
    baseline_channel: int | None = None,
    ignore_geometry: bool = False,
    nsd_tolerance: float | list[float] | None = None,
) -> dict:
    """Scores every prediction against the reference of the same case; writes and returns ``prediction_dir/summary.json``.

    The structures scored are ``structures`` (labels and regions, as ``-l``
    gives them), else those of ``dataset_json`` (default: the dataset.json
    ``autoseg predict`` writes beside its predictions). A regression dataset
    is scored per target with MAE, NRMSE, PSNR and SSIM instead (see
    ``evaluate_regression_folders``); a classification dataset by accuracy,
    balanced accuracy, sensitivity, specificity, AUC and the confusion matrix
    (``reference_dir``: the labels table, labelsTs.csv, or its folder). Every
    reference needs a prediction: a missing one would silently raise the mean. A prediction on another grid than
    its reference (spacing, origin, direction) is refused unless ``ignore_geometry``. ``nsd_tolerance``: the
    normalised surface Dice tolerance in mm, one for all structures or one each (default 1 mm). The conventions
    are in docs/evaluation.md.
    """
    if structures:
        if baseline_dir is not None:
            raise AutosegError("--baseline scores the input image of a regression dataset; -l names labels to segment.")
        checks = dict(check_geometry=not ignore_geometry, named=True, nsd_tolerance=nsd_tolerance)
        summary = evaluate_label_folders(reference_dir, prediction_dir, structures, num_processes=num_processes, **checks)
    else:
        spec = _dataset_spec(dataset_json or prediction_dir / "dataset.json")
        options = dict(num_processes=num_processes, baseline_dir=baseline_dir, baseline_channel=baseline_channel)
        options.update(check_geometry=not ignore_geometry, nsd_tolerance=nsd_tolerance)
        summary = task_for(spec).evaluate_folder(reference_dir, prediction_dir, **options)
    write_summary(prediction_dir / "summary.json", summary)
    return summary


def summary_text(summary: dict, prediction_dir: Path, dataset_json: Path | None = None, structures: Structures | None = None) -> str:
    """What ``autoseg evaluate`` prints of the summary ``evaluate_folders`` returned for the same arguments: the
    table of label maps scored with ``structures``, else the dataset's task's table."""
    if structures:
        return label_map_table(summary)
    return task_for(_dataset_spec(dataset_json or prediction_dir / "dataset.json")).summary_text(summary)
