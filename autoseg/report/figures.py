"""The QC report's pictures, each returned as PNG bytes: regression panels, metric distributions, a confusion matrix
and ROC curves (segmentations are drawn by the page itself: autoseg/report/slices.py).

Array axes are autoseg's (z, y, x); a plane shows the two other axes with their
spacing as the aspect ratio, so anisotropic volumes are not stretched.
"""

from __future__ import annotations

import io
import math

import numpy as np

from autoseg.report.slices import PLANES, intensity_window


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=72)
    _pyplot().close(figure)
    return buffer.getvalue()


def centre_of(masks: list[np.ndarray], shape: tuple[int, ...]) -> tuple[int, ...]:
    """The voxel at the centroid of the first non-empty mask (the image centre where all are empty)."""
    for mask in masks:
        if mask is not None and mask.any():
            return tuple(int(round(c)) for c in np.argwhere(mask).mean(0))
    return tuple(n // 2 for n in shape)


def _planes(volume: np.ndarray, centre: tuple[int, ...], spacing) -> list[tuple[str, np.ndarray, float]]:
    """(name, 2D slice, aspect) through ``centre``: three planes of a 3D volume, or the 2D image itself."""
    if volume.ndim == 2:
        return [("image", volume, spacing[0] / spacing[1])]
    planes = []
    for axis, name in enumerate(PLANES):
        others = [a for a in range(3) if a != axis]
        planes.append((name, np.take(volume, centre[axis], axis=axis), spacing[others[0]] / spacing[others[1]]))
    return planes


def regression_panels(
    prediction: np.ndarray, reference: np.ndarray | None, baseline: np.ndarray | None, *, mask: np.ndarray | None, spacing, title: str
) -> bytes:
    """Through the body's centroid, one plane each (axial for 3D): the input it improves on (where known), the
    model's prediction, the reference and prediction - reference, all but the difference on one intensity window."""
    pyplot = _pyplot()
    centre = centre_of([mask], prediction.shape)
    panels = [("input", baseline), ("prediction", prediction), ("reference", reference)]
    panels = [(name, volume) for name, volume in panels if volume is not None]
    if reference is not None:
        panels.append(("prediction - reference", prediction - reference))
    low, high = intensity_window(reference if reference is not None else prediction)
    figure, axes = pyplot.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), squeeze=False)
    for axis, (name, volume) in zip(axes[0], panels):
        _, plane, aspect = _planes(volume, centre, spacing)[0]
        if name.startswith("prediction -"):
            limit = float(np.percentile(np.abs(plane), 99)) or 1.0
            shown = axis.imshow(plane, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect=aspect, interpolation="nearest")
            figure.colorbar(shown, ax=axis, fraction=0.046)
        else:
            axis.imshow(plane, cmap="gray", vmin=low, vmax=high, aspect=aspect, interpolation="nearest")
        axis.set_title(name, fontsize=9)
        axis.set_axis_off()
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return _png(figure)


def metric_distributions(
    per_case: dict[str, dict[str, dict[str, float]]], metrics: list[str], colours: dict[str, str] | None = None
) -> bytes:
    """One panel per metric: each structure's (or target's) values over the cases as a box with the cases as dots
    (in the structure's colour where ``colours`` gives one)."""
    pyplot = _pyplot()
    structures = list(dict.fromkeys(name for case in per_case.values() for name in case))
    figure, axes = pyplot.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.2), squeeze=False)
    rng = np.random.default_rng(0)
    for axis, metric in zip(axes[0], metrics):
        columns = [
            [v for v in (case.get(s, {}).get(metric, math.nan) for case in per_case.values()) if math.isfinite(v)] for s in structures
        ]
        axis.boxplot([c if c else [math.nan] for c in columns], showfliers=False)
        for position, values in enumerate(columns, start=1):
            colour = (colours or {}).get(structures[position - 1])
            axis.plot(position + rng.uniform(-0.12, 0.12, len(values)), values, "o", markersize=3, alpha=0.7, color=colour)
        axis.set_xticks(range(1, len(structures) + 1), structures, rotation=30, ha="right", fontsize=8)
        axis.set_title(metric, fontsize=10)
    figure.tight_layout()
    return _png(figure)


def confusion_matrix(matrix: list[list[int]], classes: list[str]) -> bytes:
    pyplot = _pyplot()
    counts = np.asarray(matrix)
    figure, axis = pyplot.subplots(figsize=(3.6, 3.2))
    axis.imshow(counts, cmap="Blues")
    for (row, column), value in np.ndenumerate(counts):
        axis.text(column, row, str(value), ha="center", va="center", color="black" if value < counts.max() / 2 else "white")
    axis.set_xticks(range(len(classes)), classes)
    axis.set_yticks(range(len(classes)), classes)
    axis.set_xlabel("predicted")
    axis.set_ylabel("reference")
    figure.tight_layout()
    return _png(figure)


def roc_curves(references: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> bytes:
    """The ROC curve of each class against the rest (two classes: of the second only), thresholds at every probability."""
    pyplot = _pyplot()
    figure, axis = pyplot.subplots(figsize=(3.6, 3.2))
    for k in [1] if len(classes) == 2 else range(len(classes)):
        positive = references == k
        if positive.all() or not positive.any():
            continue
        order = np.argsort(-probabilities[:, k], kind="stable")
        hits = positive[order]
        sensitivity = np.concatenate([[0.0], np.cumsum(hits) / hits.sum()])
        false_positive = np.concatenate([[0.0], np.cumsum(~hits) / (~hits).sum()])
        axis.plot(false_positive, sensitivity, label=classes[k])
    axis.plot([0, 1], [0, 1], ":", color="grey")
    axis.set_xlabel("1 - specificity")
    axis.set_ylabel("sensitivity")
    axis.legend(fontsize=8)
    figure.tight_layout()
    return _png(figure)
