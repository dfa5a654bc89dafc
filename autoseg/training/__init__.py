"""The generic trainer and the ``autoseg train`` entry point."""

from autoseg.training.run import model_folder, train_fold
from autoseg.training.trainer import Trainer, TrainingSettings, pick_device, poly_lr

__all__ = ["Trainer", "TrainingSettings", "model_folder", "pick_device", "poly_lr", "train_fold"]
