"""``autoseg find_best_configuration``: choose what to predict with, from the cross-validation alone.

Candidates are the trained configurations of a dataset (model folders
``{trainer}__{plans}__{configuration}`` whose folds all finished their
whole-case validation) and every pair of them. A pair is ensembled by
averaging its members' out-of-fold predictions: for segmentation the saved
validation probabilities (so pairs compete only where training ran with
``--npz``), for regression the predicted images themselves. Each candidate is
scored by the task's selection metric on the out-of-fold predictions of every
training case, as the mean over structures (or targets) of the per-case mean:
segmentation by Dice, regression by PSNR (in dB, inside the body mask; see
autoseg/evaluation/image_metrics.py); classification by the balanced accuracy
over all out-of-fold cases (pairs average the class probabilities). The best
wins.

Segmentation only: postprocessing is then determined on the winner's
cross-validation predictions, one step at a time, each kept only if it raises
the mean Dice: first the largest connected component of the whole
foreground, then, on top of that decision, the largest component of each
label value alone. Regression and classification predictions are used as
they are.

Written into the dataset's results folder:

* ``{model}/crossval_results_folds_{folds}/``: the out-of-fold predictions of
  each configuration merged into one folder, with summary.json (for
  regression also the baseline inputs' scores, under ``"baseline"``);
* ``ensembles/{modelA}+{modelB}/crossval_results_folds_{folds}/``: the
  ensembled out-of-fold predictions and their summary.json;
* ``find_best_configuration.json``: every candidate's score and the choice;
* ``postprocessing.json`` (segmentation): the steps kept and the Dice before
  and after;
* ``inference_instructions.txt``: the exact predict / ensemble /
  apply_postprocessing commands.
"""

from __future__ import annotations

import itertools
import json
import math
import shlex
from pathlib import Path

from autoseg.dataset import DatasetSpec
from autoseg.errors import AutosegError
from autoseg.evaluation import json_scores
from autoseg.inference.postprocessing import Postprocessing
from autoseg.io import atomic_write
from autoseg.paths import model_folder_name, parse_model_folder_name, trained_configurations
from autoseg.selection import Candidate, crossval_folder_name
from autoseg.tasks import task_for
from autoseg.training.settings import model_warnings


def _trained_models(results_dir: Path, trainers: list[str], plans: list[str], configurations: list[str] | None) -> list[Path]:
    """The model folders of the named trainers x plans x configurations (every trained configuration when None)."""
    models = []
    for trainer, plans_name in itertools.product(trainers, plans):
        trained = trained_configurations(results_dir, trainer, plans_name)
        if configurations is None:
            models += trained.values()
            continue
        for configuration in configurations:
            folder = results_dir / model_folder_name(trainer, plans_name, configuration)
            if not folder.is_dir():
                names = ", ".join(trained) or "none"
                raise AutosegError(
                    f"{folder} not found: configuration {configuration} was not trained with trainer {trainer} and plans "
                    f"{plans_name} (trained: {names})."
                )
            models.append(folder)
    return models


def _missing_folds(model: Path, folds: list[str]) -> list[str]:
    return [fold for fold in folds if not (model / f"fold_{fold}" / "validation" / "summary.json").is_file()]


def find_best_configuration(
    results_dir: Path,
    references: Path,
    *,
    configurations: list[str] | None = None,
    trainers: tuple[str, ...] = ("default",),
    plans: tuple[str, ...] = ("plans",),
    folds: tuple[str, ...] = ("0", "1", "2", "3", "4"),
    allow_ensembles: bool = True,
    num_processes: int | None = None,
    say=print,
) -> dict:
    """Scores every candidate on the cross-validation, determines postprocessing and writes the files
    the module's description lists; returns the contents of find_best_configuration.json."""
    folds = [str(f) for f in folds]
    if not references.is_dir():
        raise AutosegError(
            f"{references} not found: the reference labels of the training cases (written by autoseg preprocess) are needed to "
            "score ensembles and postprocessing."
        )
    models = _trained_models(results_dir, list(trainers), list(plans), configurations)
    complete = []
    for model in models:
        missing = _missing_folds(model, folds)
        if not missing:
            complete.append(model)
            for warning in model_warnings(model, folds):
                say(f"warning: {warning}")
        elif configurations is not None:
            raise AutosegError(
                f"{model.name} has no finished validation for fold(s) {', '.join(missing)} (fold_K/validation/summary.json); "
                "train them (autoseg train ... K), or choose folds with -f."
            )
        else:
            say(f"skipping {model.name}: fold(s) {', '.join(missing)} not finished")
    if not complete:
        raise AutosegError(
            f"{results_dir} holds no configuration with all of folds {', '.join(folds)} trained and validated; train every fold "
            "first (autoseg train DATASET CONFIGURATION FOLD)."
        )
    spec = _dataset_spec(complete)
    task = task_for(spec)
    candidates = [task.merge_cross_validation(model, folds) for model in complete]
    if allow_ensembles and len(candidates) > 1:
        members = task.ensemble_members(candidates, say)
        for first, second in itertools.combinations(members, 2):
            folder = results_dir / "ensembles" / f"{first.name}+{second.name}" / crossval_folder_name(folds)
            candidates.append(task.ensemble_cross_validation(first, second, folder, references, num_processes))
    metric = task.selection_metric
    scores = {c.name: task.selection_score(c.summary) for c in candidates}
    for candidate in candidates:
        say(f"  {candidate.name:<60} {metric} {scores[candidate.name]:.4f}")
    best = max(candidates, key=lambda c: -math.inf if math.isnan(scores[c.name]) else scores[c.name])
    say(f"best: {best.name}")
    baseline = next((score for c in candidates if (score := task.baseline_score(c.summary)) is not None), None)
    if baseline is not None:
        say(f"the baseline inputs score {metric} {baseline:.4f} on the same cases")

    chosen = task.choose_postprocessing(best, references, num_processes)
    steps, report = chosen or (Postprocessing(), None)
    if chosen is not None:
        steps.save(results_dir / "postprocessing.json", {"determined_on": str(best.folder), "mean_dice": report})
        say(f"postprocessing: {_describe(steps)} (mean Dice {report['dice_without']:.4f} -> {report['dice_with_chosen_steps']:.4f})")

    result = {
        "metric": metric,
        "folds": folds,
        "candidates": {
            c.name: {"models": [m.name for m in c.models], "score": scores[c.name], "predictions": str(c.folder)} for c in candidates
        },
        "best": best.name,
        **({"postprocessing": steps.to_json()} if chosen is not None else {}),
        **({"baseline_score": baseline} if baseline is not None else {}),
    }
    atomic_write(results_dir / "find_best_configuration.json", lambda tmp: tmp.write_text(json.dumps(json_scores(result), indent=2) + "\n"))
    instructions = inference_instructions(results_dir, best, folds, steps=steps, score=scores[best.name], report=report, metric=metric)
    atomic_write(results_dir / "inference_instructions.txt", lambda tmp: tmp.write_text(instructions))
    return result


def _dataset_spec(models: list[Path]) -> DatasetSpec:
    texts = {(model / "dataset.json").read_text() for model in models}
    first = models[0] / "dataset.json"
    if len({json.dumps(json.loads(text), sort_keys=True) for text in texts}) > 1:
        raise AutosegError(
            f"the model folders of {models[0].parent} were trained with different dataset.json files; they cannot be compared."
        )
    return DatasetSpec.from_json(json.loads(first.read_text()), str(first))


def _describe(steps: Postprocessing) -> str:
    parts = (["largest component of the foreground"] if steps.foreground_largest_component else []) + [
        f"largest component of label {v}" for v in steps.largest_component_per_label
    ]
    return ", ".join(parts) if parts else "none"


def inference_instructions(
    results_dir: Path, best: Candidate, folds: list[str], *, steps: Postprocessing, score: float, report: dict | None, metric: str
) -> str:
    """The commands that predict a new folder the way the cross-validation chose, as text to copy.
    ``report``: what determine_postprocessing measured (None: the task has no postprocessing)."""
    results_dir = results_dir.resolve()
    dataset = results_dir.name
    results_option = ["--results", str(results_dir.parent)]
    postprocessing = (
        f"; postprocessing: {_describe(steps)} (mean Dice {report['dice_with_chosen_steps']:.4f})" if report is not None else ""
    )
    lines = [
        f"# autoseg find_best_configuration for {dataset}, on folds {' '.join(folds)}:",
        f"# best: {best.name} ({metric} {score:.4f}){postprocessing}.",
        "# Replace INPUT_FOLDER (images in the raw layout) and OUTPUT_FOLDER; the final predictions are written to OUTPUT_FOLDER.",
        "",
    ]
    # Every step writes into its own folder under OUTPUT_FOLDER; the last one writes OUTPUT_FOLDER itself.
    ensemble = len(best.models) > 1
    later_steps = ensemble or steps.does_something
    outputs = []
    for model in best.models:
        trainer, plans_name, configuration = parse_model_folder_name(model.name)
        output = f"OUTPUT_FOLDER/{model.name}" if later_steps else "OUTPUT_FOLDER"
        command = [
            "autoseg",
            "predict",
            "-d",
            dataset,
            "-i",
            "INPUT_FOLDER",
            "-o",
            output,
            "-c",
            configuration,
            "-tr",
            trainer,
            "-p",
            f"{plans_name}.json",
            "-f",
            *folds,
            *results_option,
        ]
        lines.append(shlex.join(command + (["--save_probabilities"] if ensemble and report is not None else [])))
        outputs.append(output)
    if ensemble:
        output = "OUTPUT_FOLDER/ensemble" if steps.does_something else "OUTPUT_FOLDER"
        lines.append(shlex.join(["autoseg", "ensemble", "-i", *outputs, "-o", output]))
        outputs = [output]
    if steps.does_something:
        lines.append(
            shlex.join(
                [
                    "autoseg",
                    "apply_postprocessing",
                    "-i",
                    outputs[0],
                    "-o",
                    "OUTPUT_FOLDER",
                    "-pp",
                    str(results_dir / "postprocessing.json"),
                ]
            )
        )
    return "\n".join(lines) + "\n"
