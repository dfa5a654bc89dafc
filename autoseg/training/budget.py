"""The optimisation a training budget calls for: the default trainer's rule (docs/training.md).

nnU-Net's schedule (SGD with Nesterov momentum 0.99 from 1e-2, polynomial decay)
is tuned for its budget of 1000 x 250 iterations; in a few hundred it has barely
left its initialisation (the spine stand-in still predicts only background after
300). So the default trainer plans the optimisation from the iterations it is
given (epochs x iterations per epoch) and the batch size:

- from ``SGD_FROM`` iterations on, nnU-Net's schedule exactly, so a full run is
  nnU-Net's;
- below, AdamW with a linear warm-up and cosine decay from ``SHORT_LR``
  (measured on the stand-ins of the three task kinds, benchmarks/learning_curves.py),
  scaled with the square root of the batch size against ``REFERENCE_BATCH``.

The task kinds differ in their losses instead: regression's gradient is taken
relative to the loss's size (autoseg.losses.RelativeGradient), which is what let
SGD move a correction-of-input model at all.

A setting left unset (None, or "auto" for the optimiser and schedule) is the
rule's choice; one a trainer variant or a flag gives is kept.
"""

from __future__ import annotations

import math
from dataclasses import replace

from autoseg.errors import AutosegError
from autoseg.training.optim import warmup_epochs
from autoseg.training.settings import TrainingSettings

SGD_FROM = 50_000  # iterations: nnU-Net's schedule from here on (a fifth of its 1000 x 250)
NNUNET = dict(optimiser="sgd", schedule="poly", initial_lr=1e-2, momentum=0.99, weight_decay=3e-5, warmup_fraction=0.0)
SHORT = dict(optimiser="adamw", schedule="warmup_cosine", momentum=0.9, weight_decay=1e-4, warmup_fraction=0.05)
SHORT_LR = 3e-3  # AdamW's at REFERENCE_BATCH, for the three task kinds (benchmarks/learning_curves.py)
REFERENCE_BATCH = 2
BUDGET_SHARE = 0.95  # of --budget_minutes planned for training: the rest covers checkpoints and plots
MIN_EPOCHS = 20  # --budget_minutes shortens the epochs before it takes fewer of them
MIN_ITERATIONS_PER_EPOCH = 10
AUTO = ("optimiser", "schedule", "initial_lr", "momentum", "weight_decay", "warmup_fraction")


def is_planned(settings: TrainingSettings, name: str) -> bool:
    """Whether the setting ``name`` is left to the rule."""
    return getattr(settings, name) in (None, "auto")


def plan_optimisation(
    settings: TrainingSettings, batch_size: int, recorded: TrainingSettings | None = None
) -> tuple[TrainingSettings, str]:
    """``settings`` with the rule's choice for each setting left unset, and a line saying what was chosen and why
    (unchanged, and a line saying so, when a trainer or flag set them all). ``recorded``: the settings a run
    being continued started with; what is unset is taken from them, as they were planned then."""
    unset = [name for name in AUTO if is_planned(settings, name)]
    iterations = settings.iterations
    if recorded is not None:
        choice, why = {name: getattr(recorded, name) for name in AUTO}, "as recorded when the run started"
    elif iterations >= SGD_FROM:
        choice, why = dict(NNUNET), f"planned for {iterations:,} iterations (at least {SGD_FROM:,}: nnU-Net's schedule, batch {batch_size})"
    else:
        rate = SHORT_LR * math.sqrt(batch_size / REFERENCE_BATCH)
        choice = dict(SHORT, initial_lr=float(f"{rate:.3g}"))
        why = f"planned for {iterations:,} iterations (fewer than {SGD_FROM:,}: a short run, batch {batch_size})"
    planned = replace(settings, **{name: choice[name] for name in unset})
    if not unset:
        return planned, f"optimisation as the trainer and flags set it: {describe(planned)}"
    kept = [name for name in AUTO if name not in unset]
    note = f"; kept as set: {', '.join(kept)}" if kept else ""
    return planned, f"optimisation {why}: {describe(planned)}{note}"


def describe(settings: TrainingSettings) -> str:
    """The optimisation in words: ``AdamW, lr 0.003, weight decay 0.0001, warm-up 1 epoch then cosine decay``."""
    names = {"sgd": f"SGD (Nesterov momentum {settings.momentum})", "adam": "Adam", "adamw": "AdamW"}
    optimiser = names.get(settings.optimiser, settings.optimiser)
    schedule = settings.schedule
    if schedule.startswith("warmup_"):
        count = warmup_epochs(settings)
        schedule = f"warm-up {count} epoch{'s' * (count != 1)} then {schedule[len('warmup_') :]} decay"
    else:
        schedule = f"{schedule} decay"
    return f"{optimiser}, lr {settings.initial_lr:g}, weight decay {settings.weight_decay:g}, {schedule}"


def fit_budget(
    trainer_class, setup, settings: TrainingSettings, *, minutes: float, device, recorded: TrainingSettings | None = None
) -> TrainingSettings:
    """``settings`` with the epochs, iterations per epoch and validation batches that train ``setup`` for about
    ``minutes`` on ``device`` (``--budget_minutes``), from the measured time of a training iteration (data
    loading included) and of a validation batch. The settings' own values are the most it picks, and the
    whole-case validation afterwards is not counted. ``recorded``: the settings a run being continued started
    with, whose lengths are kept."""
    if not minutes > 0:
        raise AutosegError(f"--budget_minutes must be a positive number of minutes, got {minutes}.")
    if recorded is not None:
        kept = recorded
        print(f"--budget_minutes: continuing the {kept.epochs} x {kept.iterations_per_epoch} iterations chosen when the run started")
        return replace(
            settings, epochs=kept.epochs, iterations_per_epoch=kept.iterations_per_epoch, validation_iterations=kept.validation_iterations
        )
    step, validation_step = trainer_class(setup, settings, device=device).time_iterations()
    seconds = minutes * 60 * BUDGET_SHARE
    per_epoch = int(min(settings.iterations_per_epoch, max(MIN_ITERATIONS_PER_EPOCH, seconds / step // MIN_EPOCHS)))
    validation = int(min(settings.validation_iterations, max(1, per_epoch // 5)))
    epochs = int(min(settings.epochs, max(1, seconds // (per_epoch * step + validation * validation_step))))
    chosen = replace(settings, epochs=epochs, iterations_per_epoch=per_epoch, validation_iterations=validation)
    expected = epochs * (per_epoch * step + validation * validation_step) / 60
    print(
        f"--budget_minutes {minutes:g}: a training iteration takes {step:.3g} s and a validation batch {validation_step:.3g} s on "
        f"{device}; training {epochs} epochs x {per_epoch} iterations ({chosen.iterations:,}, about {expected:.1f} minutes) with "
        f"{validation} validation batches per epoch; the whole-case validation afterwards is extra",
        flush=True,
    )
    return chosen
