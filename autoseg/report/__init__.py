"""The QC report (``autoseg report``): one HTML page of a prediction folder's cases, scores and pictures."""

from autoseg.report.build import build_report

__all__ = ["build_report"]
