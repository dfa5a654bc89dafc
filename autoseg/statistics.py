"""Sampled statistics of voxel values and positions, shared by the fingerprint and the task kinds."""

from __future__ import annotations

import numpy as np

SAMPLES_PER_CASE = 10_000


def sample_values(values: np.ndarray, rng: np.random.Generator, count: int = SAMPLES_PER_CASE) -> np.ndarray:
    """Returns at most ``count`` of ``values``, drawn without replacement."""
    return values if values.size <= count else rng.choice(values, count, replace=False)


def centroid_in_box(mask: np.ndarray, box: list[tuple[int, int]]) -> list[float]:
    """Returns the centroid of ``mask`` as a position in ``box``, from -1 (first voxel) to 1 (last) per axis."""
    coordinates = np.argwhere(mask).mean(axis=0)
    return [float(2 * (c - start) / max(stop - start - 1, 1) - 1) for c, (start, stop) in zip(coordinates, box)]
