# What autoseg.training exports, stated for IDEs and type checkers: the package imports each name on first use
# (__init__.py), so that autoseg.training.checkpoint does not pull in the trainer and its augmentation libraries.
# tests/training/test_exports.py checks that this file and __init__.py name the same objects.
from autoseg.device import pick_device as pick_device
from autoseg.training.optim import OPTIMISERS as OPTIMISERS
from autoseg.training.optim import SCHEDULES as SCHEDULES
from autoseg.training.optim import poly_lr as poly_lr
from autoseg.training.run import model_folder as model_folder
from autoseg.training.run import train_fold as train_fold
from autoseg.training.settings import TrainingSettings as TrainingSettings
from autoseg.training.trainer import TRAINERS as TRAINERS
from autoseg.training.trainer import FoldSetup as FoldSetup
from autoseg.training.trainer import Trainer as Trainer
from autoseg.training.trainer import get_trainer as get_trainer
from autoseg.training.trainer import register_trainer as register_trainer
from autoseg.training.trainer import register_variant as register_variant
from autoseg.training.trainer import trainer_settings as trainer_settings

__all__ = [
    "FoldSetup",
    "OPTIMISERS",
    "SCHEDULES",
    "TRAINERS",
    "Trainer",
    "TrainingSettings",
    "get_trainer",
    "model_folder",
    "pick_device",
    "poly_lr",
    "register_trainer",
    "register_variant",
    "train_fold",
    "trainer_settings",
]
