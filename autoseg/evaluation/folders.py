"""Scoring folders of predictions against the references, one kind at a time (the task objects' ``evaluate_folder``
calls these; ``autoseg evaluate`` starts in autoseg/workflows/evaluation.py), and the tables of their summaries."""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

from autoseg.errors import AutosegError
from autoseg.evaluation.evaluate import Structures, Tolerances, evaluate_case, nsd_tolerances, summarise
from autoseg.io import split_ending
from autoseg.parallel import map_cases


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


def _score(item: tuple[str, Path, Path], structures: Structures, **checks) -> tuple[str, dict]:
    case_id, prediction, reference = item
    return case_id, evaluate_case(prediction, reference, structures, **checks)


def _score_images(item: tuple[str, list[Path], list[Path | None], list[Path]], task, check_geometry: bool) -> tuple[str, dict, dict | None]:
    """One regression case: (case id, its prediction's metrics, its baseline inputs' metrics or None)."""
    case_id, predicted, baseline, reference = item
    return (
        case_id,
        task.case_metrics(predicted, reference, check_geometry=check_geometry),
        task.baseline_metrics(baseline, reference, check_geometry=check_geometry) if any(baseline) else None,
    )


def evaluate_cases(
    items: list[tuple[str, Path, Path]],
    structures: Structures,
    num_processes: int | None = None,
    *,
    declared: set[int] | None = None,
    check_geometry: bool = True,
    tolerances: Tolerances | None = None,
    ignore_label: int | None = None,
) -> dict:
    """Scores (case id, prediction file, reference file) triples in parallel; returns the summary (see ``summarise``)
    with the NSD tolerances used. ``declared``: the label values the files may hold (None: any integer);
    ``ignore_label``: the references' unannotated voxels, left out; see ``evaluate_case``."""
    tolerances = tolerances or nsd_tolerances(structures)
    checks = dict(declared=declared, check_geometry=check_geometry, tolerances=tolerances, ignore_label=ignore_label)
    score = partial(_score, structures=structures, **checks)
    summary = summarise(dict(map_cases(score, items, num_processes, desc="evaluating")))
    summary["nsd_tolerance_mm"] = tolerances
    return summary


def evaluate_label_folders(
    reference_dir: Path,
    prediction_dir: Path,
    structures: Structures,
    *,
    num_processes: int | None = None,
    declared: set[int] | None = None,
    check_geometry: bool = True,
    named: bool = False,
    nsd_tolerance: float | list[float] | None = None,
    ignore_label: int | None = None,
) -> dict:
    """Scores the label files of ``prediction_dir`` against those of ``reference_dir`` (same case ids, any
    format) for ``structures``: Dice, IoU, precision, recall, HD95, ASSD and NSD per structure. ``declared``: the
    label values the files may hold (dataset.json's; None: any integer). ``named``: the structures were named
    by hand (``-l``), so one found in no reference and no prediction is a typo, refused. ``nsd_tolerance``: mm,
    one for all structures or one each (see ``nsd_tolerances``). ``ignore_label``: the references' unannotated
    voxels, left out of every metric."""
    tolerances = nsd_tolerances(structures, nsd_tolerance)
    references, predictions = _label_files(reference_dir), _label_files(prediction_dir)
    if not references:
        raise AutosegError(f"{reference_dir} holds no label files.")
    _refuse_missing(set(references) - set(predictions), prediction_dir)
    items = [(case_id, predictions[case_id], references[case_id]) for case_id in sorted(references)]
    checks = dict(declared=declared, check_geometry=check_geometry, tolerances=tolerances, ignore_label=ignore_label)
    summary = evaluate_cases(items, structures, num_processes, **checks)
    if named:
        nowhere = [
            name
            for name in structures
            if not any(case[name]["reference_voxels"] or case[name]["prediction_voxels"] for case in summary["cases"].values())
        ]
        if nowhere:
            raise AutosegError(
                f"-l {' '.join(nowhere)}: no reference and no prediction in {reference_dir} and {prediction_dir} holds "
                f"{'this label' if len(nowhere) == 1 else 'these labels'}; check the values (labels are the integers stored "
                "in the files, regions comma-joined values such as 1,2,4)."
            )
    return summary


def evaluate_regression_folders(
    reference_dir: Path,
    prediction_dir: Path,
    task,
    *,
    num_processes: int | None = None,
    baseline_dir: Path | None = None,
    baseline_channel: int | None = None,
    check_geometry: bool = True,
) -> dict:
    """Scores a regression dataset's predictions (``task``: its task object): per case and target, MAE, NRMSE, PSNR and SSIM.

    Files are named as in labelsTr: ``{case}{ending}`` for one target, else
    ``{case}_{XXXX}{ending}`` per target. With ``baseline_dir`` (the inputs, in
    the raw layout), each target's baseline input channel (dataset.json
    ``baseline_channels``; ``baseline_channel`` overrides it for a dataset of
    one target) is scored the same way, under ``"baseline"`` in the summary:
    the low-dose image the model has to improve on.
    """
    spec, ending = task.spec, task.spec.file_ending
    files = task.output_files
    case_ids = task.cases_in(reference_dir)
    if not case_ids:
        raise AutosegError(f"{reference_dir} holds no {ending} target files named like labelsTr ({files('CASE', reference_dir)[0].name}).")
    _refuse_missing({case_id for case_id in case_ids if not all(p.is_file() for p in files(case_id, prediction_dir))}, prediction_dir)
    baselines: dict[int, int] = {}
    if baseline_dir is not None:
        if baseline_channel is not None and len(spec.targets) > 1:
            raise AutosegError(
                f"--baseline_channel names one input channel, but this dataset has {len(spec.targets)} targets; set "
                "'baseline_channels' in its dataset.json instead."
            )
        baselines = {0: baseline_channel} if baseline_channel is not None else spec.baselines()
        if not baselines:
            raise AutosegError(
                "--baseline given, but dataset.json's 'baseline_channels' names no input channel for any target; add one (e.g. "
                '{"0": 0}) or pass --baseline_channel.'
            )
    inputs = lambda case_id: [baseline_dir / f"{case_id}_{baselines[t]:04d}{ending}" if t in baselines else None for t in spec.targets]  # noqa: E731
    absent = sorted(str(p) for case_id in case_ids for p in inputs(case_id) if p is not None and not p.is_file())
    if absent:
        raise AutosegError(
            f"baseline input(s) not found: {', '.join(absent[:5])}; --baseline takes the input folder in the raw layout "
            f"(CASE_XXXX{ending})."
        )
    items = [(case_id, files(case_id, prediction_dir), inputs(case_id), files(case_id, reference_dir)) for case_id in case_ids]
    results = map_cases(partial(_score_images, task=task, check_geometry=check_geometry), items, num_processes, desc="evaluating")
    summary = summarise({case_id: scores for case_id, scores, _ in results})
    if baselines:
        summary["baseline"] = summarise({case_id: scores for case_id, _, scores in results})
    return summary


def _refuse_missing(missing: set[str], prediction_dir: Path) -> None:
    if missing:
        missing = sorted(missing)
        raise AutosegError(
            f"{prediction_dir} lacks predictions for {len(missing)} reference case(s): "
            f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}."
        )


LABEL_METRICS = ("dice", "iou", "precision", "recall", "hd95", "assd", "nsd")
IMAGE_METRICS = ("mae", "nrmse", "psnr", "ssim")
IMAGE_NOTE = "MAE in the image's units, PSNR in dB, inside the reference's body mask"


def metric_table(summary: dict, metrics: tuple[str, ...], note: str) -> str:
    """Mean ``metrics`` per structure (or target), one row each, the foreground mean and the baseline's rows where
    scored, then the case count and ``note`` (units, conventions)."""
    lines = [f"{'structure':<32}" + "".join(f"{m:>11}" for m in metrics)]
    rows = list(summary["mean"].items()) + ([("foreground mean", summary["foreground_mean"])] if len(summary["mean"]) > 1 else [])
    rows += [(f"{name} (input)", values) for name, values in summary.get("baseline", {}).get("mean", {}).items()]
    lines += [f"{name:<32}" + "".join(f"{values.get(m, math.nan):>11.4f}" for m in metrics) for name, values in rows]
    lines.append(f"({len(summary['cases'])} cases; {note})")
    return "\n".join(lines)


def label_map_table(summary: dict) -> str:
    """``metric_table`` of label maps: overlaps, surface distances in mm and NSD at its tolerances."""
    return metric_table(summary, LABEL_METRICS, f"HD95 and ASSD in mm, NSD at {_tolerance_text(summary)}")


def _tolerance_text(summary: dict) -> str:
    tolerances = summary.get("nsd_tolerance_mm") or {}
    values = set(tolerances.values())
    if len(values) == 1:
        return f"{values.pop():g} mm"
    return ", ".join(f"{name} {value:g} mm" for name, value in tolerances.items()) or "1 mm"
