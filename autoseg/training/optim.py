"""Optimisers and learning-rate schedules, registered by name and chosen by a trainer's settings.

An optimiser is ``make(parameters, settings) -> torch.optim.Optimizer``; a
schedule is ``rate(settings, epoch) -> float``, the learning rate of an epoch.
Plug-ins add their own with ``OPTIMISERS.register(name)`` / ``SCHEDULES.register(name)``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from autoseg.registry import Registry
from autoseg.training.settings import TrainingSettings

OPTIMISERS: Registry[Callable] = Registry("optimiser")
SCHEDULES: Registry[Callable] = Registry("schedule")


@OPTIMISERS.register("sgd")
def sgd(parameters, settings: TrainingSettings) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum (nnU-Net's)."""
    momentum, decay = settings.momentum, settings.weight_decay
    return torch.optim.SGD(parameters, lr=settings.initial_lr, momentum=momentum, nesterov=True, weight_decay=decay)


@OPTIMISERS.register("adam")
def adam(parameters, settings: TrainingSettings) -> torch.optim.Optimizer:
    return torch.optim.Adam(parameters, lr=settings.initial_lr, weight_decay=settings.weight_decay)


@OPTIMISERS.register("adamw")
def adamw(parameters, settings: TrainingSettings) -> torch.optim.Optimizer:
    """Adam with decoupled weight decay."""
    return torch.optim.AdamW(parameters, lr=settings.initial_lr, weight_decay=settings.weight_decay)


def poly_lr(initial: float, epoch: int, epochs: int, exponent: float = 0.9) -> float:
    """Returns the learning rate of ``epoch``: initial * (1 - epoch / epochs) ** exponent."""
    return initial * (1 - epoch / epochs) ** exponent


@SCHEDULES.register("poly")
def poly(settings: TrainingSettings, epoch: int) -> float:
    """Polynomial decay from the initial rate to zero (nnU-Net's)."""
    return poly_lr(settings.initial_lr, epoch, settings.epochs, settings.poly_exponent)


@SCHEDULES.register("cosine")
def cosine(settings: TrainingSettings, epoch: int) -> float:
    """Half a cosine from the initial rate to zero."""
    return settings.initial_lr * 0.5 * (1 + math.cos(math.pi * epoch / settings.epochs))


def warmup_epochs(settings: TrainingSettings) -> int:
    """The epochs the warm-up schedules rise over: ``warmup_fraction`` of them, at least one."""
    return max(1, round(settings.warmup_fraction * settings.epochs))


@SCHEDULES.register("warmup_poly")
def warmup_poly(settings: TrainingSettings, epoch: int) -> float:
    """A linear rise over the first ``warmup_fraction`` of the epochs (at least one), then polynomial decay
    over the rest."""
    warmup = warmup_epochs(settings)
    if epoch < warmup:
        return settings.initial_lr * (epoch + 1) / (warmup + 1)
    return poly_lr(settings.initial_lr, epoch - warmup, max(1, settings.epochs - warmup), settings.poly_exponent)


@SCHEDULES.register("warmup_cosine")
def warmup_cosine(settings: TrainingSettings, epoch: int) -> float:
    """A linear rise over the first ``warmup_fraction`` of the epochs (at least one), then half a cosine
    towards zero over the rest, in as many steps as epochs (so even the last of a few epochs is low)."""
    warmup = warmup_epochs(settings)
    if epoch < warmup:
        return settings.initial_lr * (epoch + 1) / (warmup + 1)
    return settings.initial_lr * 0.5 * (1 + math.cos(math.pi * (epoch - warmup + 1) / (settings.epochs - warmup + 1)))
