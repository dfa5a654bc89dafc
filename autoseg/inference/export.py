"""From a network's output on the preprocessed grid to a file in the raw image's geometry and format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from autoseg.io import ImageData, write_image
from autoseg.plans import Configuration
from autoseg.preprocessing.pipeline import CaseProperties, revert_to_original


def export_segmentation(logits: torch.Tensor, properties: CaseProperties, configuration: Configuration, spec, task, path: Path) -> np.ndarray:
    """Writes the label map for ``logits`` (K, *preprocessed) to ``path`` in the raw geometry; returns it."""
    probabilities = task.probabilities(logits, spec).numpy()
    probabilities = revert_to_original(probabilities, properties, configuration.spacing, fill=task.background_fill(spec))
    labels = task.label_map(probabilities, spec)
    write_image(ImageData(labels[None], properties.original_geometry), path)
    return labels
