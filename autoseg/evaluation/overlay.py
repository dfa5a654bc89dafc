"""An overlay PNG of a prediction on its image, so a person can look at what the numbers describe."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autoseg.io import atomic_write, read_image


def _slice_with_most_foreground(labels: np.ndarray) -> int:
    return int(np.argmax((labels > 0).reshape(labels.shape[0], -1).sum(1)))


def save_overlay(image_path: Path, prediction_path: Path, png_path: Path, reference_path: Path | None = None, title: str = "") -> None:
    """Draws the image (grey) with predicted labels in colour (and the reference's outline if given) as a PNG.

    3D images show the slice along the first array axis with the most
    predicted foreground; intensities are windowed to the 1st-99th percentile.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    image = read_image(image_path).array[0].astype(np.float32)
    labels = read_image(prediction_path).array[0]
    reference = read_image(reference_path).array[0] if reference_path is not None else None
    if image.ndim == 3:
        index = _slice_with_most_foreground(labels)
        image, labels = image[index], labels[index]
        reference = reference[index] if reference is not None else None
    low, high = np.percentile(image, [1, 99])
    figure, axes = pyplot.subplots(1, 2, figsize=(8, 4.4))
    for axis, show_labels in zip(axes, (False, True)):
        axis.imshow(image, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
        axis.set_axis_off()
        if show_labels:
            coloured = np.ma.masked_where(labels == 0, labels)
            axis.imshow(coloured, cmap="tab10", vmin=0, vmax=9, alpha=0.45, interpolation="nearest")
            if reference is not None:
                axis.contour(reference > 0, levels=[0.5], colors="white", linewidths=0.8)
    axes[0].set_title("image")
    axes[1].set_title("prediction" + (" (reference outlined)" if reference is not None else ""))
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    png_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(png_path, lambda tmp: figure.savefig(tmp, format="png", dpi=100))
    pyplot.close(figure)
