"""Metrics and evaluation."""

from autoseg.evaluation.evaluate import evaluate_case, summarise, write_summary
from autoseg.evaluation.metrics import METRICS, segmentation_metrics, surface

__all__ = ["METRICS", "evaluate_case", "segmentation_metrics", "summarise", "surface", "write_summary"]
