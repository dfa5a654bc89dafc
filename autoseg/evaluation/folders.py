"""``autoseg evaluate``: score a folder of predicted label files against a folder of references."""

from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path

from autoseg.dataset import DatasetSpec
from autoseg.errors import AutosegError
from autoseg.evaluation.evaluate import Structures, evaluate_case, summarise, write_summary
from autoseg.inference.inputs import split_ending
from autoseg.parallel import map_cases
from autoseg.tasks import task_for


def _label_files(folder: Path) -> dict[str, Path]:
    """{case id: file} of the images in ``folder`` (any supported format)."""
    if not folder.is_dir():
        raise AutosegError(f"{folder} is not a folder.")
    files = {}
    for path in sorted(folder.iterdir()):
        split = split_ending(path) if path.is_file() and not path.name.startswith(".") else None
        if split is not None:
            files[split[0]] = path
    return files


def _score(item: tuple[str, Path, Path], structures: Structures) -> tuple[str, dict]:
    case_id, prediction, reference = item
    return case_id, evaluate_case(prediction, reference, structures)


def _score_images(item: tuple[str, Path, Path], spec: DatasetSpec) -> tuple[str, dict]:
    case_id, prediction, reference = item
    return case_id, task_for(spec).case_metrics([prediction], [reference], spec)


def evaluate_cases(items: list[tuple[str, Path, Path]], structures: Structures, num_processes: int | None = None) -> dict:
    """Scores (case id, prediction file, reference file) triples in parallel; returns the summary (see ``summarise``)."""
    return summarise(dict(map_cases(partial(_score, structures=structures), items, num_processes, desc="evaluating")))


def _dataset_spec(dataset_json: Path) -> DatasetSpec:
    if not dataset_json.is_file():
        raise AutosegError(f"{dataset_json} not found; pass the dataset's dataset.json with -dj, or the labels to score with -l.")
    return DatasetSpec.from_json(json.loads(dataset_json.read_text()), str(dataset_json))


def evaluate_folders(reference_dir: Path, prediction_dir: Path, dataset_json: Path | None = None, num_processes: int | None = None, structures: Structures | None = None,
                     baseline_dir: Path | None = None, baseline_channel: int = 0) -> dict:
    """Scores every prediction against the reference of the same case; writes and returns ``prediction_dir/summary.json``.

    The structures scored are ``structures`` (labels and regions, as ``-l``
    gives them), else those of ``dataset_json`` (default: the dataset.json
    ``autoseg predict`` writes beside its predictions). A regression dataset
    (one target) is scored with MAE, NRMSE, PSNR and SSIM instead; with
    ``baseline_dir`` (the inputs, raw layout), input channel
    ``baseline_channel`` (the low-dose image the model improves on) is scored
    the same way, under ``"baseline"`` in the summary. Every reference needs a
    prediction: a missing one would silently raise the mean.
    """
    spec = None if structures else _dataset_spec(dataset_json or prediction_dir / "dataset.json")
    if spec is not None and task_for(spec).target_kind == "image" and len(spec.targets) != 1:
        raise AutosegError(f"autoseg evaluate scores regression datasets with one target; this one has {len(spec.targets)}.")
    references, predictions = _label_files(reference_dir), _label_files(prediction_dir)
    if not references:
        raise AutosegError(f"{reference_dir} holds no label files.")
    missing = sorted(set(references) - set(predictions))
    if missing:
        raise AutosegError(f"{prediction_dir} lacks predictions for {len(missing)} reference case(s): {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}.")
    items = [(case_id, predictions[case_id], references[case_id]) for case_id in sorted(references)]
    if spec is not None and task_for(spec).target_kind == "image":
        summary = summarise(dict(map_cases(partial(_score_images, spec=spec), items, num_processes, desc="evaluating")))
        if baseline_dir is not None:
            inputs = {case_id: baseline_dir / f"{case_id}_{baseline_channel:04d}{path.name[len(case_id):]}" for case_id, _, path in items}
            absent = sorted(str(p) for p in inputs.values() if not p.is_file())
            if absent:
                raise AutosegError(f"baseline input(s) not found: {', '.join(absent[:5])}; --baseline takes the input folder in the raw layout (CASE_{baseline_channel:04d}.ext).")
            baseline_items = [(case_id, inputs[case_id], reference) for case_id, _, reference in items]
            summary["baseline"] = summarise(dict(map_cases(partial(_score_images, spec=spec), baseline_items, num_processes, desc="baseline")))
    elif baseline_dir is not None:
        raise AutosegError("--baseline scores the input image of a regression dataset; this is a segmentation dataset.")
    else:
        summary = evaluate_cases(items, structures or task_for(spec).evaluation_structures(spec), num_processes)
    write_summary(prediction_dir / "summary.json", summary)
    return summary


def print_table(summary: dict) -> None:
    """Prints mean metrics per structure, one row each, and the foreground mean (and the baseline's rows, if scored)."""
    present = {metric for values in summary["mean"].values() for metric in values}
    metrics = ["dice", "iou", "precision", "recall", "hd95", "assd"] if "dice" in present else ["mae", "nrmse", "psnr", "ssim"]
    print(f"{'structure':<32}" + "".join(f"{m:>11}" for m in metrics))
    rows = list(summary["mean"].items()) + ([("foreground mean", summary["foreground_mean"])] if len(summary["mean"]) > 1 else [])
    rows += [(f"{name} (input)", values) for name, values in summary.get("baseline", {}).get("mean", {}).items()]
    for name, values in rows:
        cells = "".join(f"{values.get(m, math.nan):>11.4f}" for m in metrics)
        print(f"{name:<32}{cells}")
    print(f"({len(summary['cases'])} cases; " + ("HD95 and ASSD in mm)" if "dice" in present else "MAE in the image's units, PSNR in dB, inside the reference's body mask)"))
