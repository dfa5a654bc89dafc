"""Metrics and evaluation."""

from autoseg.evaluation.evaluate import (
    Structures,
    evaluate_case,
    json_scores,
    parse_structures,
    read_summary,
    score_label_maps,
    summarise,
    write_summary,
)
from autoseg.evaluation.metrics import METRICS, segmentation_metrics, surface

__all__ = [
    "METRICS",
    "Structures",
    "evaluate_case",
    "json_scores",
    "parse_structures",
    "read_summary",
    "score_label_maps",
    "segmentation_metrics",
    "summarise",
    "surface",
    "write_summary",
]
