"""The generic trainer, its registries and the ``autoseg train`` entry point.

Names are imported on first use, so that ``autoseg.training.checkpoint`` (which
prediction needs) does not pull in the trainer and its augmentation libraries.
"""

import importlib

_HOMES = {
    "model_folder": "run",
    "train_fold": "run",
    "FoldSetup": "trainer",
    "TRAINERS": "trainer",
    "Trainer": "trainer",
    "get_trainer": "trainer",
    "register_trainer": "trainer",
    "register_variant": "trainer",
    "trainer_settings": "trainer",
    "TrainingSettings": "settings",
    "OPTIMISERS": "optim",
    "SCHEDULES": "optim",
    "poly_lr": "optim",
}

__all__ = [*_HOMES, "pick_device"]


def __getattr__(name: str):
    if name == "pick_device":
        from autoseg.device import pick_device

        return pick_device
    if name in _HOMES:
        return getattr(importlib.import_module(f"autoseg.training.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'autoseg.training' has no attribute {name!r}")
