"""The raw dataset format: dataset.json, case discovery, each task kind's references, and verification."""

from autoseg.dataset.dataset_json import DatasetSpec, load_dataset_spec
from autoseg.dataset.layout import Case, Problem
from autoseg.dataset.raw import RawDataset, collect_cases
from autoseg.dataset.references import REFERENCE_FORMATS, ReferenceFormat, register_reference_format
from autoseg.dataset.verify import VerifyReport, verify_dataset

__all__ = [
    "REFERENCE_FORMATS",
    "Case",
    "DatasetSpec",
    "Problem",
    "RawDataset",
    "ReferenceFormat",
    "VerifyReport",
    "collect_cases",
    "load_dataset_spec",
    "register_reference_format",
    "verify_dataset",
]
