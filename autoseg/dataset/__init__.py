"""The raw dataset format: dataset.json, case discovery and verification."""

from autoseg.dataset.dataset_json import TASK_KINDS, DatasetSpec, load_dataset_spec
from autoseg.dataset.raw import Case, Problem, RawDataset, collect_cases, read_class_table
from autoseg.dataset.verify import VerifyReport, verify_dataset

__all__ = [
    "TASK_KINDS",
    "Case",
    "DatasetSpec",
    "Problem",
    "RawDataset",
    "VerifyReport",
    "collect_cases",
    "load_dataset_spec",
    "read_class_table",
    "verify_dataset",
]
