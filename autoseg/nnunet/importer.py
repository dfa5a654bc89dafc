"""An nnU-Net v2 model folder written out as an autoseg model folder.

``convert_model_folder`` writes plans.json (autoseg's, see convert.py),
dataset.json (nnU-Net's, which autoseg reads as it is), ``imported_from.json``
(where each file came from) and ``fold_K/checkpoint_*.pt`` holding the
weights as tensors, under autoseg's names; a cascade's first stage is written
beside it. ``import_nnunet`` does so into a dataset's folder of the results
root and carries over the postprocessing nnU-Net's find_best_configuration
chose (read from its postprocessing.json, never from the pickle).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

import torch

from autoseg.dataset import DatasetSpec
from autoseg.errors import AutosegError
from autoseg.inference.postprocessing import Postprocessing
from autoseg.nnunet.convert import configuration_of, load_weights, plans_of, state_dict
from autoseg.nnunet.model_folder import CHECKPOINTS, NnUNetModel
from autoseg.paths import model_folder_name
from autoseg.tasks import task_for
from autoseg.training.checkpoint import save_checkpoint

# nnU-Net's default trainer and plans are autoseg's defaults: an imported model answers to the same -tr and -p.
TRAINERS = {"nnUNetTrainer": "default"}
PLANS = {
    "nnUNetPlans": "plans",
    "nnUNetResEncUNetMPlans": "plans_resenc_m",
    "nnUNetResEncUNetLPlans": "plans_resenc_l",
    "nnUNetResEncUNetXLPlans": "plans_resenc_xl",
}
IMPORT_RECORD = "imported_from.json"
POSTPROCESSING_STEP = "remove_all_but_largest_component_from_segmentation"


def autoseg_checkpoint_name(name: str) -> str:
    """nnU-Net's checkpoint file name as autoseg's (``checkpoint_best.pth`` -> ``checkpoint_best.pt``)."""
    return name[:-1] if name.endswith(".pth") else name


def nnunet_checkpoint_name(name: str) -> str:
    """autoseg's checkpoint file name as nnU-Net's (``checkpoint_best.pt`` -> ``checkpoint_best.pth``)."""
    return name + "h" if name.endswith(".pt") else name


def imported_folder_name(model: NnUNetModel) -> str:
    return model_folder_name(
        TRAINERS.get(model.trainer, model.trainer), PLANS.get(model.plans_name, model.plans_name), model.configuration_name
    )


def convert_model_folder(
    source: Path | NnUNetModel,
    destination: Path,
    *,
    dataset: str | None = None,
    folds: list[str] | None = None,
    checkpoints: tuple[str, ...] = CHECKPOINTS,
) -> Path:
    """Writes the autoseg model folder of the nnU-Net model folder ``source`` into ``destination`` (a dataset's
    results folder), and a cascade's first stage beside it; returns the model folder. Each fold's
    ``checkpoints`` (nnU-Net's names) are converted where present; ``folds`` limits the folds. (A cascade's first
    stage is predicted with its final checkpoints, as nnU-Net's predictor does.)"""
    model = source if isinstance(source, NnUNetModel) else NnUNetModel.open(Path(source))
    dataset = dataset or model.dataset_name
    previous = model.previous_stage()
    if previous is not None:
        convert_model_folder(previous, destination, dataset=dataset, folds=folds, checkpoints=CHECKPOINTS[:1])
    # nnU-Net's dataset.json describes label maps whatever else it holds: its models segment.
    description = {key: value for key, value in model.dataset_json.items() if key != "task"}
    spec = DatasetSpec.from_json(description, str(model.folder / "dataset.json"))
    if previous is not None and spec.has_regions:
        raise AutosegError(
            f"{model.folder.name}: a region-based cascade; nnU-Net gives its second stage one channel per label of the first "
            "stage's prediction, autoseg one per region, so autoseg cannot run it as nnU-Net does."
        )
    available = {name: model.folds(name) for name in checkpoints}
    chosen = folds or next((found for found in available.values() if found), [])
    if not chosen:
        raise AutosegError(f"{model.folder} holds no fold_K/{' or '.join(checkpoints)}; train a fold with nnU-Net first.")
    missing = [fold for fold in chosen if not any(fold in found for found in available.values())]
    if missing:
        trained = sorted({fold for found in available.values() for fold in found}) or ["none"]
        raise AutosegError(f"{model.folder} has no checkpoint for fold {', '.join(missing)}; trained folds: {', '.join(trained)}.")

    first_file = next(name for name in checkpoints if chosen[0] in available[name])
    first = model.checkpoint(chosen[0], first_file)
    configuration, axes = configuration_of(model, first.get("inference_allowed_mirroring_axes"))
    stages = [configuration]
    if previous is not None:
        lowres = previous.checkpoint(chosen[0], CHECKPOINTS[0]) if chosen[0] in previous.folds(CHECKPOINTS[0]) else first
        stages.insert(0, configuration_of(previous, lowres.get("inference_allowed_mirroring_axes"))[0])
    plans = plans_of(model, stages, dataset)
    source = f"the plans converted from {model.folder / 'plans.json'}"
    plans.validate(source)
    task = task_for(spec)
    inputs = spec.num_channels + task.previous_stage_inputs(configuration)  # bounded before any network is built:
    configuration.check_memory(torch.device("cpu"), inputs, task.out_channels(), decoder=task.has_decoder, training=False, source=source)

    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / imported_folder_name(model)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=destination))
    try:
        record = {"tool": "nnU-Net v2", "folder": str(model.folder), "trainer": model.trainer, "plans": model.plans_name, "folds": {}}
        for fold in chosen:
            record["folds"][fold] = {}
            for name in checkpoints:
                if fold not in available[name]:
                    continue
                checkpoint = first if (fold, name) == (chosen[0], first_file) else model.checkpoint(fold, name)
                source_file = model.folder / f"fold_{fold}" / name
                network = task.make_network(configuration.architecture, plans, task.previous_stage_inputs(configuration))
                load_weights(network, state_dict(checkpoint["network_weights"], axes, str(source_file)), str(source_file))
                epoch = checkpoint.get("current_epoch")
                save_checkpoint(
                    staging / f"fold_{fold}" / autoseg_checkpoint_name(name),
                    {"network": network.state_dict(), "epoch": int(epoch) if epoch is not None else 0, "imported_from": str(source_file)},
                )
                record["folds"][fold][autoseg_checkpoint_name(name)] = {"source": str(source_file), "epoch": epoch}
        plans.save(staging / "plans.json")
        (staging / "dataset.json").write_text(json.dumps(description, indent=2) + "\n")
        (staging / IMPORT_RECORD).write_text(json.dumps(record, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def dataset_folder_name(model: NnUNetModel, dataset_id: int | None) -> str:
    """``DatasetXXX_Name`` of the import: nnU-Net's, or its name under the id ``dataset_id``."""
    name = model.dataset_name
    match = re.fullmatch(r"Dataset(\d{3,})_(.+)", name)
    if dataset_id is None:
        if not match:
            raise AutosegError(f"{model.folder / 'plans.json'}: dataset_name {name!r} is not DatasetXXX_Name; give the id with -d.")
        return name
    if not 0 <= dataset_id <= 9999:
        raise AutosegError(f"-d {dataset_id}: a dataset id is a whole number from 0 to 9999.")
    return f"Dataset{dataset_id:03d}_{match.group(2) if match else name}"


def import_nnunet(
    source: Path, results: Path, *, dataset_id: int | None = None, folds: list[str] | None = None, overwrite: bool = False
) -> Path:
    """Imports the nnU-Net model folder ``source`` into ``results`` (the results root) as an autoseg model; returns
    its model folder. The postprocessing nnU-Net's find_best_configuration chose for it (its
    ``crossval_results_folds_*/postprocessing.json``) becomes the dataset's postprocessing.json unless it has one."""
    model = NnUNetModel.open(Path(source))
    dataset = dataset_folder_name(model, dataset_id)
    destination = Path(results) / dataset
    target = destination / imported_folder_name(model)
    if target.exists() and not overwrite:
        raise AutosegError(f"{target} exists; pass --overwrite to replace it, or import under another dataset id (-d).")
    if destination.is_dir() and not overwrite:
        stage = model.previous_stage()
        if stage is not None and (destination / imported_folder_name(stage)).exists():
            raise AutosegError(f"{destination / imported_folder_name(stage)} exists; pass --overwrite to replace it.")
    folder = convert_model_folder(model, destination, dataset=dataset, folds=folds)
    steps = nnunet_postprocessing(model)
    if steps is not None and not (destination / "postprocessing.json").exists():
        steps[0].save(destination / "postprocessing.json", {"determined_on": steps[1]})
    return folder


def nnunet_postprocessing(model: NnUNetModel) -> tuple[Postprocessing, str] | None:
    """The largest-component steps nnU-Net chose for the model on cross-validation, and where they came from; None
    when it chose none (or none were determined). Region steps, which autoseg's postprocessing does not have, are
    refused rather than dropped."""
    found = sorted(model.folder.glob("crossval_results_folds_*/postprocessing.json"))
    if not found:
        return None
    source = found[-1]
    try:
        data = json.loads(source.read_text())
        names, arguments = data["postprocessing_fns"], data["postprocessing_kwargs"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise AutosegError(f"{source} is not nnU-Net's postprocessing.json ({error}).") from None
    labels = sorted(int(v) for k, v in model.dataset_json["labels"].items() if not isinstance(v, list) and k != "ignore" and int(v) > 0)
    steps = Postprocessing()
    for name, kwargs in zip(names, arguments):
        chosen = kwargs.get("labels_or_regions") if isinstance(kwargs, dict) else None
        if name != POSTPROCESSING_STEP or chosen is None:
            raise AutosegError(f"{source}: step {name} {kwargs} is not one autoseg has (largest connected component).")
        values = chosen if isinstance(chosen, list) else [chosen]
        if any(isinstance(v, list) for v in values):
            raise AutosegError(f"{source}: nnU-Net chose a largest-component step for a region ({chosen}); autoseg's steps act on labels.")
        values = sorted(int(v) for v in values)
        if len(values) > 1 or (values == labels and len(labels) > 1):
            steps.foreground_largest_component = True
        else:
            steps.largest_component_per_label.append(values[0])
    if not steps.does_something:
        return None
    return steps, f"nnU-Net find_best_configuration ({source})"
