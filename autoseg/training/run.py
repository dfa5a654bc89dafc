"""``autoseg train``: resolve the preprocessed data, the fold's split and the output folder, then train."""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

from autoseg.data.splits import SplitCase, load_or_create_splits
from autoseg.dataset import DatasetSpec
from autoseg.device import pick_device
from autoseg.errors import AutosegError
from autoseg.io import remove_leftovers
from autoseg.losses import get_loss
from autoseg.paths import model_folder_name
from autoseg.plan_and_preprocess import check_preprocessed
from autoseg.plans import Plans
from autoseg.preprocessing.storage import listed_cases, load_properties
from autoseg.tasks import task_for
from autoseg.training import distributed
from autoseg.training.budget import fit_budget, plan_optimisation
from autoseg.training.cascade import previous_stage_files
from autoseg.training.checkpoint import BEST_CHECKPOINT, FINAL_CHECKPOINT, LATEST_CHECKPOINT, describe_progress
from autoseg.training.fold_lock import fold_lock
from autoseg.training.settings import TrainingSettings, check_resume, load_training_settings, save_training_settings
from autoseg.training.trainer import FoldSetup, get_trainer


def model_folder(results_root: Path, dataset_name: str, trainer: str, plans_name: str, configuration: str) -> Path:
    return results_root / dataset_name / model_folder_name(trainer, plans_name, configuration)


def record_model_inputs(model_dir: Path, preprocessed_dir: Path, plans_file: str) -> None:
    """Copies plans and dataset.json into the model folder, so prediction needs nothing else.

    Refuses to add a fold to a model folder whose folds were trained with other plans.
    """
    from autoseg.io import atomic_write

    model_dir.mkdir(parents=True, exist_ok=True)
    for source, name in ((preprocessed_dir / plans_file, "plans.json"), (preprocessed_dir / "dataset.json", "dataset.json")):
        text = source.read_text()
        existing = model_dir / name
        if existing.is_file() and json.loads(existing.read_text()) != json.loads(text):
            raise AutosegError(
                f"{existing} differs from {source}: the folds in {model_dir} were trained with other plans or labels. "
                "Train into a new folder (another -p plans file or -tr name), or delete the old folds."
            )
        if not existing.is_file():
            atomic_write(existing, lambda tmp: tmp.write_text(text))


def check_fold_folder(output: Path, *, resume: bool, validation_only: bool, pretrained_weights: Path | None) -> None:
    """Refuses what the fold folder ``output`` holds when it does not fit the request: a finished training (without
    --continue or --val_only), an interrupted one (without --continue: never restarted over), no final checkpoint to
    validate, or pretrained weights for a run that already started from them."""
    finished = (output / FINAL_CHECKPOINT).is_file()
    if not (finished or resume or validation_only) and (output / LATEST_CHECKPOINT).is_file():
        raise AutosegError(
            f"{output} holds an interrupted run ({describe_progress(output / LATEST_CHECKPOINT)}); pass --continue to resume it, "
            f"or delete {output} to start over."
        )
    if finished and not (resume or validation_only):
        raise AutosegError(
            f"{output} already holds a finished training; delete it to train again, or pass --val_only to validate it again."
        )
    if validation_only and not finished:
        raise AutosegError(f"{output} has no checkpoint_final.pt to validate; train the fold first.")
    if pretrained_weights is not None and resume and (output / LATEST_CHECKPOINT).is_file():
        raise AutosegError(
            f"--pretrained_weights and --continue both given for {output}: the run already started from the pretrained weights; "
            "drop --pretrained_weights to continue it."
        )


def train_fold(
    preprocessed_dir: Path,
    results_root: Path,
    configuration_name: str,
    *,
    fold: str,
    plans_file: str = "plans.json",
    device: str | None = None,
    settings: TrainingSettings | None = None,
    resume: bool = False,
    validation_only: bool = False,
    trainer: str = "default",
    pretrained_weights: Path | None = None,
    save_probabilities: bool = False,
    num_processes: int = 1,
    validate_best: bool = False,
    budget_minutes: float | None = None,
    given: dict | None = None,
) -> Path:
    """Trains one fold (``"0"``..``"4"`` or ``"all"``) of a configuration; returns the fold's output folder.

    ``validation_only`` skips training and re-runs the whole-case validation of a finished fold.
    ``trainer``: a registered trainer (``-tr``), which also names the model folder; ``settings`` default to
    its ``default_settings``. The effective settings are saved as the fold's training_settings.json. A
    resumed run (``resume``) must agree with them: ``settings`` given in full are checked against them; else
    they are taken from there, with ``given`` (the settings named for this run, by field; the CLI's flags) on
    top: an operational one (workers, checkpoint interval) may change, any other must agree with the record
    or the run is refused naming the difference. With nothing to resume, it says so and starts.
    ``pretrained_weights``: a checkpoint to start from (transfer learning).
    ``save_probabilities``: also write the validation cases' class probabilities (.npz).
    ``num_processes`` > 1 trains with DDP, one process per GPU (gloo processes on the CPU);
    under torchrun, leave it at 1: the processes are already there.
    ``validate_best``: the whole-case validation predicts with checkpoint_best.pt instead of
    checkpoint_final.pt (``--val_best``); its summary.json records which.
    ``budget_minutes``: the epochs and iterations per epoch are chosen to train for about that long on this
    device, from a measured step time (``--budget_minutes``); a resumed run keeps those it recorded.
    The optimisation settings the trainer leaves unset are planned for the budget (autoseg.training.budget).
    """
    trainer_class = get_trainer(trainer)
    output = model_folder(results_root, preprocessed_dir.name, trainer, Path(plans_file).stem, configuration_name) / f"fold_{fold}"
    record = load_training_settings(output) if resume and not validation_only else None
    if record is not None and (given is not None or settings is None):
        settings = replace(record.settings, **(given or {}))
    settings = settings or trainer_class.default_settings
    if resume and not validation_only:
        if not (output / LATEST_CHECKPOINT).is_file() and not (output / FINAL_CHECKPOINT).is_file():
            print(f"{output}: nothing to resume (no {LATEST_CHECKPOINT}); fold {fold} trains from the start", flush=True)
    torch_device = pick_device(device)  # a device this machine lacks is refused before anything is written
    plans = Plans.load(preprocessed_dir / plans_file)
    configuration = plans.configuration(configuration_name)
    spec = DatasetSpec.from_json(json.loads((preprocessed_dir / "dataset.json").read_text()), str(preprocessed_dir / "dataset.json"))
    data_folder = preprocessed_dir / configuration.data_identifier
    task = task_for(spec)
    get_loss(settings.loss or task.default_loss).check(task.name)  # before anything is written
    configuration.check_memory(
        torch_device,
        spec.num_channels + task.previous_stage_inputs(configuration),
        task.out_channels(),
        decoder=task.has_decoder,
        training=True,
        source=str(preprocessed_dir / plans_file),
    )
    case_ids = listed_cases(data_folder, f"autoseg preprocess -d {preprocessed_dir.name} -pl {plans.planner} -c {configuration_name}")
    check_preprocessed(data_folder, plans, configuration, task, preprocessed_dir.name)
    properties = [load_properties(data_folder, case_id) for case_id in case_ids]
    cases = [SplitCase(p.case_id, p.class_index, p.subject) for p in properties]
    splits = load_or_create_splits(preprocessed_dir / "splits_final.json", cases)
    if fold == "all":
        train_ids = validation_ids = case_ids
    elif fold.isdigit() and int(fold) < len(splits):
        train_ids, validation_ids = splits[int(fold)]["train"], splits[int(fold)]["val"]
    else:
        raise AutosegError(f"fold must be 0-{len(splits) - 1} or 'all', got {fold!r}.")
    plans_name = Path(plans_file).stem
    requested, processes = settings, distributed.from_environment()
    # Held from here to the end: the checks below and everything written into the fold folder (under torchrun by
    # the main process; the processes a launch spawns share their launcher's lock).
    with fold_lock(output) if processes.is_main else nullcontext():
        if processes.is_main:
            remove_leftovers(output)  # what a killed run was writing
        check_fold_folder(output, resume=resume, validation_only=validation_only, pretrained_weights=pretrained_weights)
        previous_stage = None
        if configuration.previous_stage is not None:  # the cascade: the previous stage's out-of-fold predictions
            previous_model = model_folder(results_root, preprocessed_dir.name, trainer, plans_name, configuration.previous_stage)
            previous_stage = previous_stage_files(previous_model, configuration_name, [*train_ids, *validation_ids])
        record_model_inputs(output.parent, preprocessed_dir, plans_file)
        setup = FoldSetup(
            spec=spec,
            plans=plans,
            configuration=configuration,
            data_folder=data_folder,
            train_ids=tuple(train_ids),
            validation_ids=tuple(validation_ids),
            output_dir=output,
            reference_folder=preprocessed_dir / "gt",
            baseline_folder=preprocessed_dir / "baseline",
            previous_stage=previous_stage,
        )
        if not validation_only:
            record = load_training_settings(output) if resume else None
            recorded = record.settings if record is not None else None
            if budget_minutes is not None:
                if num_processes > 1 or processes.distributed:
                    raise AutosegError(
                        "--budget_minutes measures the step time of one process; with several, train once with it on one "
                        "device and pass the --epochs and --iterations_per_epoch it chose."
                    )
                settings = fit_budget(trainer_class, setup, settings, minutes=budget_minutes, device=torch_device, recorded=recorded)
            settings, optimisation = plan_optimisation(settings, configuration.batch_size, recorded)
            if resume:
                check_resume(output, record, trainer, settings)
            if processes.is_main and num_processes == 1:  # with --num_gpus, the spawned main process records it
                output.mkdir(parents=True, exist_ok=True)
                save_training_settings(output, trainer, settings, trainer_class.default_settings, optimisation)
                print(optimisation, flush=True)
        if num_processes > 1:
            distributed.launch(
                train_fold,
                num_processes,
                torch_device.type,
                preprocessed_dir=preprocessed_dir,
                results_root=results_root,
                configuration_name=configuration_name,
                fold=fold,
                plans_file=plans_file,
                device=device,
                settings=requested,
                resume=resume,
                given=given,
                validation_only=validation_only,
                trainer=trainer,
                pretrained_weights=pretrained_weights,
                save_probabilities=save_probabilities,
                validate_best=validate_best,
            )
            return output
        distributed.start(processes, processes.device(torch_device))
        try:
            checkpoint = BEST_CHECKPOINT if validate_best else FINAL_CHECKPOINT
            fold_trainer = trainer_class(
                setup,
                settings,
                device=torch_device,
                processes=processes,
                save_probabilities=save_probabilities,
                validation_checkpoint=checkpoint,
            )
            if validation_only:
                fold_trainer.validate_only()
                return output
            if pretrained_weights is not None:
                fold_trainer.load_pretrained(Path(pretrained_weights))
            where = f"{processes.world_size} processes on {fold_trainer.device.type}" if processes.distributed else str(fold_trainer.device)
            fold_trainer.say(
                f"training {preprocessed_dir.name} {configuration_name} fold {fold} on {where}: {len(train_ids)} training, "
                f"{len(validation_ids)} validation cases -> {output}"
            )
            fold_trainer.run(resume=resume)
        finally:
            distributed.stop()
        return output
