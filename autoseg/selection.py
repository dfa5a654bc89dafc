"""Cross-validation candidates, as find_best_configuration (autoseg/workflows/best_configuration.py) compares
them: a configuration's folds merged into one out-of-fold prediction per training case, a pair of candidates
ensembled, and the postprocessing chosen on the best one. The task objects call these for their kind; each
takes the task (or its dataset) as an argument.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from autoseg.errors import AutosegError
from autoseg.evaluation import Structures, read_summary, score_label_maps, summarise, write_summary
from autoseg.evaluation.evaluate import annotated_only
from autoseg.inference.ensemble import average_images, ensemble_case
from autoseg.inference.postprocessing import Postprocessing
from autoseg.io import atomic_write, read_image
from autoseg.parallel import map_cases


@dataclass
class Candidate:
    """A configuration or an ensemble of configurations, with its out-of-fold predictions."""

    name: str
    models: list[Path]  # the model folders it predicts with
    folder: Path  # its merged cross-validation predictions
    summary: dict
    ending: str
    probabilities: dict[str, Path] | None = None  # case -> saved probabilities (None: trained without --npz)

    @property
    def predictions(self) -> dict[str, Path]:
        return {case_id: self.folder / f"{case_id}{self.ending}" for case_id in self.summary["cases"]}


def crossval_folder_name(folds: list[str]) -> str:
    return f"crossval_results_folds_{'_'.join(folds)}"


def merge_image_folds(model: Path, folds: list[str], task) -> Candidate:
    """Merges the folds' validation predictions of ``model`` (image files) into one folder with one summary.json.

    The per-case metrics come from the folds' own summaries (nothing is scored twice; so do the
    baseline inputs' where validation scored them). A case validated by two folds means the folds
    were trained with different splits: refused.
    """
    spec = task.spec
    folder = model / crossval_folder_name(folds)
    folder.mkdir(exist_ok=True)
    per_case, baseline, probabilities, origin = {}, {}, {}, {}
    for fold in folds:
        validation = model / f"fold_{fold}" / "validation"
        summary = read_summary(validation / "summary.json")
        baseline.update(summary.get("baseline", {}).get("cases", {}))
        for case_id, metrics in summary["cases"].items():
            if case_id in per_case:
                raise AutosegError(
                    f"case {case_id} is validated by both fold {origin[case_id]} and fold {fold} of {model.name}: "
                    "the folds were trained with different splits (splits_final.json changed). Retrain the folds on one split."
                )
            per_case[case_id], origin[case_id] = metrics, fold
            for source in task.output_files(case_id, validation):
                atomic_write(folder / source.name, lambda tmp, source=source: shutil.copyfile(source, tmp))
            if (validation / f"{case_id}.npz").is_file():
                probabilities[case_id] = validation / f"{case_id}.npz"
    summary = summarise(per_case)
    if set(baseline) == set(per_case):
        summary["baseline"] = summarise(baseline)
    write_summary(folder / "summary.json", summary)
    return Candidate(model.name, [model], folder, summary, spec.file_ending, probabilities if len(probabilities) == len(per_case) else None)


def ensemble_probabilities_case(
    case_id: str, first: Candidate, second: Candidate, *, task, references: Path, folder: Path
) -> tuple[str, dict]:
    """One case of a segmentation pair ensemble: the saved probabilities averaged, labelled and scored."""
    label_file = first.folder / f"{case_id}{task.spec.file_ending}"
    labels = ensemble_case([first.probabilities[case_id], second.probabilities[case_id]], label_file, task, folder / label_file.name)
    reference = read_image(references / label_file.name)
    structures, ignore = task.evaluation_structures(), task.spec.ignore_label
    return case_id, score_label_maps(labels, reference.array[0], structures, spacing=reference.geometry.spacing, ignore_label=ignore)


def ensemble_images_case(case_id: str, first: Candidate, second: Candidate, *, task, references: Path, folder: Path) -> tuple[str, dict]:
    """One case of a regression pair ensemble: the predicted images averaged, then scored."""
    files = task.output_files
    written = average_images([files(case_id, first.folder), files(case_id, second.folder)], files(case_id, folder))
    return case_id, task.case_metrics(written, files(case_id, references))


def ensemble_image_candidates(
    first: Candidate, second: Candidate, folder: Path, *, references: Path, num_processes: int | None, ensemble_case_of
) -> Candidate:
    """A pair ensemble of image predictions, ``ensemble_case_of(case_id, first, second, references=, folder=)``
    averaging and scoring each case, in parallel; its summary written beside the files."""
    name = f"{first.name}+{second.name}"
    folder.mkdir(parents=True, exist_ok=True)
    work = partial(ensemble_case_of, first=first, second=second, references=references, folder=folder)
    summary = summarise(dict(map_cases(work, sorted(first.summary["cases"]), num_processes, desc=f"ensemble {name}")))
    write_summary(folder / "summary.json", summary)
    return Candidate(name, first.models + second.models, folder, summary, first.ending)


def _dice_counts(
    item: tuple[Path, Path], variants: list[Postprocessing], structures: Structures, ignore_label: int | None = None
) -> list[dict[str, tuple[int, int, int]]]:
    """(tp, fp, fn) per structure of one case's prediction under each postprocessing variant (over the reference's
    annotated voxels, with an ``ignore_label``)."""
    prediction, reference = (read_image(path).array[0] for path in item)
    expected = {name: np.isin(annotated_only(reference, reference, ignore_label)[1], values) for name, values in structures.items()}
    counts = []
    for variant in variants:
        predicted = annotated_only(variant.apply(prediction), reference, ignore_label)[0]
        counts.append({})
        for name, values in structures.items():
            mask = np.isin(predicted, values)
            counts[-1][name] = (
                int(np.count_nonzero(mask & expected[name])),
                int(np.count_nonzero(mask & ~expected[name])),
                int(np.count_nonzero(~mask & expected[name])),
            )
    return counts


def mean_dice(per_case: list[dict[str, tuple[int, int, int]]]) -> float:
    """Mean over structures of the mean per-case Dice (cases where a structure is absent from both are left out)."""
    means = []
    for name in per_case[0]:
        values = [2 * tp / (2 * tp + fp + fn) for tp, fp, fn in (case[name] for case in per_case) if 2 * tp + fp + fn]
        if values:
            means.append(float(np.mean(values)))
    return float(np.mean(means)) if means else math.nan


def postprocess_candidate(best: Candidate, references: Path, task, num_processes: int | None = None) -> tuple[Postprocessing, dict]:
    """Segmentation: the largest-component steps chosen on ``best``'s out-of-fold label maps, and the report."""
    spec, predictions = task.spec, best.predictions
    pairs = [(predictions[case_id], references / predictions[case_id].name) for case_id in sorted(predictions)]
    label_values = (
        sorted(spec.regions_class_order) if spec.has_regions else sorted(v for v in spec.label_values() if v not in (0, spec.ignore_label))
    )
    return determine_postprocessing(pairs, task.evaluation_structures(), label_values, num_processes, spec.ignore_label)


def determine_postprocessing(
    pairs: list[tuple[Path, Path]],
    structures: Structures,
    label_values: list[int],
    num_processes: int | None = None,
    ignore_label: int | None = None,
) -> tuple[Postprocessing, dict]:
    """Chooses the largest-component steps that raise the mean Dice of (prediction, reference) files.

    Returns the steps and a report: the Dice without postprocessing, after
    each tried step, and with the steps kept (``ignore_label``: the references' unannotated voxels, left out).
    """

    def scores(variants: list[Postprocessing]) -> list[float]:
        count = partial(_dice_counts, variants=variants, structures=structures, ignore_label=ignore_label)
        counts = map_cases(count, pairs, num_processes, desc="postprocessing")
        return [mean_dice([case[index] for case in counts]) for index in range(len(variants))]

    nothing, whole = Postprocessing(), Postprocessing(foreground_largest_component=True)
    before, with_whole = scores([nothing, whole])
    chosen = whole if with_whole > before else nothing
    baseline = max(before, with_whole) if not math.isnan(with_whole) else before
    report = {"dice_without": before, "dice_foreground_largest_component": with_whole, "dice_largest_component_of_label": {}}
    per_label = [Postprocessing(chosen.foreground_largest_component, [value]) for value in label_values]
    kept = []
    for value, score in zip(label_values, scores(per_label) if per_label else []):
        report["dice_largest_component_of_label"][str(value)] = score
        if score > baseline:
            kept.append(value)
    chosen = Postprocessing(chosen.foreground_largest_component, kept)
    report["dice_with_chosen_steps"] = scores([chosen])[0] if kept else baseline
    return chosen, report
