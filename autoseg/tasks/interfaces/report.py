"""A task kind's part of the QC report (autoseg/workflows/report.py assembles the page)."""

from __future__ import annotations

from abc import ABC, abstractmethod


class ReportView(ABC):
    """``report_view``: the kind's notes, table columns, rows and figures of a prediction folder's QC report."""

    @abstractmethod
    def report_view(self, source) -> tuple[list, list, list, list]:
        """This kind's part of the QC report of a prediction folder (``source``: autoseg/workflows/report.py's Source):
        (notes, table columns, one row per case, sections of figures)."""
