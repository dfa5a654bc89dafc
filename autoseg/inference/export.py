"""From a network's output on the preprocessed grid to a file in the raw image's geometry and format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from autoseg.io import ImageData, atomic_write, write_image
from autoseg.plans import Configuration
from autoseg.preprocessing.pipeline import CaseProperties, revert_to_original


def export_segmentation(logits: torch.Tensor, properties: CaseProperties, configuration: Configuration, spec, task, path: Path, probabilities_path: Path | None = None) -> np.ndarray:
    """Writes the label map for ``logits`` (K, *preprocessed) to ``path`` in the raw geometry; returns it.

    With ``probabilities_path``, also writes the per-class probabilities in the
    raw geometry there (``.npz``, key ``probabilities``, float32 (K, *raw
    spatial) in the array order of autoseg.io), which ensembling averages.
    """
    probabilities = task.probabilities(logits, spec).numpy()
    probabilities = revert_to_original(probabilities, properties, configuration.spacing, fill=task.background_fill(spec)).astype(np.float32, copy=False)
    labels = task.label_map(probabilities, spec)
    write_image(ImageData(labels[None], properties.original_geometry), path)
    if probabilities_path is not None:
        save_probabilities(probabilities, probabilities_path)
    return labels


def save_probabilities(probabilities: np.ndarray, path: Path) -> None:
    """Writes ``probabilities`` to ``path`` (.npz, key ``probabilities``) atomically."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, probabilities=probabilities)

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, write)
