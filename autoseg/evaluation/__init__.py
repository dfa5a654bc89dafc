"""Metrics and evaluation."""

from autoseg.evaluation.metrics import METRICS, segmentation_metrics, surface

__all__ = ["METRICS", "segmentation_metrics", "surface"]
