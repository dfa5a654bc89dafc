"""What the task kinds' report views share: ordering rows worst first, the metric distributions, a finite mean.

A kind's view (``Task.report_view``, in autoseg/tasks/<kind>/report.py) turns a prediction folder into the page's
notes, table columns, rows and sections; autoseg/workflows/report.py assembles the page.
"""

from __future__ import annotations

import math

import numpy as np

import autoseg.report.figures as figures
from autoseg.report.page import Figure, Section


def rows_worst_first(rows: list[dict], key: str, worst_is_low: bool = True) -> list[dict]:
    """``rows`` ordered by ``key``, the worst first (lowest where ``worst_is_low``); rows without a value last."""

    def order(row):
        value = row.get(key)
        missing = value is None or not isinstance(value, (int, float)) or math.isnan(value)
        return (missing, (value if worst_is_low else -value) if not missing else 0, str(row.get("case", "")))

    return sorted(rows, key=order)


def distributions(per_case: dict, metrics: list[str], what: str, colours: dict[str, str] | None = None) -> Section:
    """The section of the metrics' distributions over the cases (``per_case``: a summary's cases), each structure in
    its colour where ``colours`` gives one."""
    png = figures.metric_distributions(per_case, metrics, colours)
    return Section("metric distributions", [Figure(f"{what}, over the cases", png)])


def finite_mean(values) -> float:
    """The mean of the finite numbers among ``values``; NaN where there are none."""
    finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan
