"""The generic trainer and the ``autoseg train`` entry point."""

from autoseg.training.run import model_folder, train_fold
from autoseg.training.trainer import TRAINERS, Trainer, TrainingSettings, pick_device, poly_lr

__all__ = ["TRAINERS", "Trainer", "TrainingSettings", "model_folder", "pick_device", "poly_lr", "train_fold"]
