"""Data for training: cross-validation splits (and, with the trainer, patch sampling and augmentation)."""

from autoseg.data.splits import SplitCase, check_splits, load_or_create_splits, make_splits

__all__ = ["SplitCase", "check_splits", "load_or_create_splits", "make_splits"]
