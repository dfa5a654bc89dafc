"""Metrics and evaluation."""

from autoseg.evaluation.evaluate import (
    Structures,
    Tolerances,
    evaluate_case,
    json_scores,
    nsd_tolerances,
    parse_structures,
    read_summary,
    score_label_maps,
    summarise,
    write_summary,
)
from autoseg.evaluation.metrics import METRICS, segmentation_metrics, surface
from autoseg.evaluation.surface_dice import normalised_surface_dice

__all__ = [
    "METRICS",
    "Structures",
    "Tolerances",
    "evaluate_case",
    "json_scores",
    "normalised_surface_dice",
    "nsd_tolerances",
    "parse_structures",
    "read_summary",
    "score_label_maps",
    "segmentation_metrics",
    "summarise",
    "surface",
    "write_summary",
]
