"""The cascade's previous-stage prediction as the sampler handles it: loaded per case, perturbed per patch.

See autoseg/training/cascade.py for where the predictions come from and how they become input channels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

OPERATION_P, COMPONENT_P, MAX_STRUCTURE = 0.4, 0.2, 8
COMPONENT_LIMIT = 0.15  # a component covering more than this share of the label is never removed


def load_previous_stage(path: Path) -> np.ndarray:
    """A previous-stage prediction on this stage's preprocessed grid (*spatial, uint8)."""
    with np.load(path) as stored:
        return stored["labels"]


def perturb(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The previous stage's labels (*spatial, integers) with nnU-Net's perturbations, label by label."""
    labels = labels.copy()
    for value in np.unique(labels):
        if value == 0:
            continue
        mask = labels == value
        if rng.random() < OPERATION_P:
            operation = (ndimage.binary_dilation, ndimage.binary_erosion, ndimage.binary_opening, ndimage.binary_closing)[
                rng.integers(4)
            ]
            size = int(rng.integers(1, MAX_STRUCTURE + 1))
            structure = np.ones((3,) * labels.ndim, dtype=bool)
            changed = operation(mask, structure=structure, iterations=size)
            labels[mask & ~changed] = 0
            labels[changed & (labels == 0)] = value
            mask = labels == value
        if rng.random() < COMPONENT_P and mask.any():
            components, count = ndimage.label(mask)
            sizes = np.bincount(components.ravel())[1:]
            small = [index + 1 for index, size in enumerate(sizes) if size <= COMPONENT_LIMIT * mask.sum()]
            if small:
                labels[components == small[rng.integers(len(small))]] = 0
    return labels
