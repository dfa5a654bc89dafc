"""What a trainer variant may change, and the record of what a fold was trained with.

``training_settings.json`` in each fold folder holds the trainer's name and
its effective settings after ``--epochs``, ``--iterations_per_epoch`` and
``--seed``: a resumed run must match it, and prediction and configuration
selection read it to warn when folds of one model were trained differently
or a shortened run is used as if it were the trainer's full one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from autoseg.errors import AutosegError
from autoseg.io import atomic_write

SETTINGS_FILE = "training_settings.json"
# Settings that change how fast a run goes, never what it learns: a resumed run may change them.
OPERATIONAL = ("num_workers", "checkpoint_every", "checkpoint_minutes", "compile")


@dataclass
class TrainingSettings:
    """A trainer's settings. ``optimiser`` and ``schedule`` name entries of autoseg.training.optim's OPTIMISERS and
    SCHEDULES registries, ``loss`` one of autoseg.losses' LOSSES ("" = the task's ``default_loss``); ``autoseg train
    --help`` lists them.

    The optimisation settings left at "auto" or None are planned for the budget (epochs x iterations per
    epoch), the task kind and the batch size by autoseg.training.budget before training starts: nnU-Net's
    schedule for a full run, AdamW with warm-up and cosine decay for a short one. The record in the fold
    folder holds what was chosen."""

    optimiser: str = "auto"
    schedule: str = "auto"
    epochs: int = 1000
    iterations_per_epoch: int = 250
    validation_iterations: int = 50
    initial_lr: float | None = None
    weight_decay: float | None = None
    momentum: float | None = None  # SGD's
    gradient_clip: float = 12.0
    poly_exponent: float = 0.9
    warmup_fraction: float | None = None  # warmup_*: the share of epochs the learning rate rises linearly over
    checkpoint_every: int = 5  # checkpoint_latest.pt every this many epochs,
    checkpoint_minutes: float = 5.0  # and at the first epoch's end this long after the last one
    seed: int = 0
    num_workers: int | None = None  # augmentation processes (per training process under DDP)
    compile: bool = False  # torch.compile the training forward and backward
    loss: str = ""
    augmentation: str = "auto"  # cpu (worker processes), device (batched, data/device_augmentation.py), auto: device on CUDA

    @property
    def iterations(self) -> int:
        return self.epochs * self.iterations_per_epoch

    @classmethod
    def from_json(cls, data: dict) -> "TrainingSettings":
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


def save_training_settings(
    fold_dir: Path, trainer: str, settings: TrainingSettings, full: TrainingSettings, optimisation: str = ""
) -> None:
    """Records ``settings``, the length of the trainer's full run (``full``: its default settings) and the line
    saying how the optimisation was planned (autoseg.training.budget)."""
    record = {
        "trainer": trainer,
        "settings": asdict(settings),
        "full_run": {"epochs": full.epochs, "iterations_per_epoch": full.iterations_per_epoch},
        "optimisation": optimisation,
    }
    atomic_write(fold_dir / SETTINGS_FILE, lambda tmp: tmp.write_text(json.dumps(record, indent=2) + "\n"))


@dataclass(frozen=True)
class TrainingRecord:
    """What a fold's training_settings.json says: the trainer, its effective settings and its full run's length."""

    trainer: str
    settings: TrainingSettings
    full_iterations: int


def load_training_settings(fold_dir: Path) -> TrainingRecord | None:
    """The record of a fold's training, or None for a fold trained before they were recorded."""
    path = fold_dir / SETTINGS_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        full = data["full_run"]
        return TrainingRecord(data["trainer"], TrainingSettings.from_json(data["settings"]), full["epochs"] * full["iterations_per_epoch"])
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise AutosegError(f"{path} is not a training settings record ({error}); delete it to train the fold again.") from error


def differences(first: TrainingSettings, second: TrainingSettings) -> list[str]:
    """The settings, other than the operational ones, in which two runs differ: ``name a -> b``."""
    one, two = asdict(first), asdict(second)
    return [f"{name} {one[name]!r} -> {two[name]!r}" for name in one if name not in OPERATIONAL and one[name] != two[name]]


def check_resume(fold_dir: Path, recorded: TrainingRecord | None, trainer: str, settings: TrainingSettings) -> None:
    """Raises AutosegError when a run resumed in ``fold_dir``, whose record is ``recorded``
    (load_training_settings), would change what it learns."""
    if recorded is None:
        return
    changed = ([f"trainer {recorded.trainer!r} -> {trainer!r}"] if recorded.trainer != trainer else []) + differences(
        recorded.settings, settings
    )
    if changed:
        raise AutosegError(
            f"{fold_dir} was started with other settings ({'; '.join(changed)}); continue it with the settings in "
            f"{fold_dir / SETTINGS_FILE}, or delete the fold to start again."
        )


def model_warnings(model_dir: Path, folds: list[str]) -> list[str]:
    """Warnings about the folds of one model: trained with different settings, or for fewer iterations than
    their trainer's full run, so that a shortened run cannot pass for a full one."""
    records = {fold: load_training_settings(model_dir / f"fold_{fold}") for fold in folds}
    records = {fold: record for fold, record in records.items() if record is not None}
    if not records:
        return []
    warnings = []
    first_fold, first = next(iter(records.items()))
    for fold, record in records.items():
        changed = ([f"trainer {first.trainer!r} -> {record.trainer!r}"] if record.trainer != first.trainer else []) + differences(
            first.settings, record.settings
        )
        if changed:
            warnings.append(f"{model_dir.name}: fold {fold} was trained differently from fold {first_fold} ({'; '.join(changed)})")
    short = {fold: record for fold, record in records.items() if record.settings.iterations < record.full_iterations}
    if short:
        listed = ", ".join(f"fold {fold} {record.settings.iterations} of {record.full_iterations}" for fold, record in short.items())
        warnings.append(f"{model_dir.name}: shortened training ({listed} iterations of the trainer's full run)")
    return warnings
