"""Sampled statistics of voxel values and positions, shared by the fingerprint and the task kinds."""

from __future__ import annotations

import numpy as np

SAMPLES_PER_CASE = 10_000


def sample_values(values: np.ndarray, rng: np.random.Generator, count: int = SAMPLES_PER_CASE) -> np.ndarray:
    """Returns at most ``count`` of ``values``, drawn without replacement."""
    return values if values.size <= count else rng.choice(values, count, replace=False)


def centroid_in_box(mask: np.ndarray, box: list[tuple[int, int]]) -> list[float]:
    """Returns the centroid of ``mask`` as a position in ``box``, from -1 (first voxel) to 1 (last) per axis."""
    total = np.count_nonzero(mask)
    coordinates = [  # from the voxel counts per index along each axis: no list of all voxels' coordinates
        float(np.dot(np.count_nonzero(mask, axis=tuple(a for a in range(mask.ndim) if a != axis)), np.arange(n))) / total
        for axis, n in enumerate(mask.shape)
    ]
    return [float(2 * (c - start) / max(stop - start - 1, 1) - 1) for c, (start, stop) in zip(coordinates, box)]


def sample_voxels(mask: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Returns the coordinates (N, ndim, int32) of up to ``count`` of ``mask``'s True voxels, drawn without
    replacement, in C order: what indexing ``np.argwhere(mask)`` with the same draw gives, without holding every
    voxel's coordinates (a body mask of a CT holds tens of millions): slab by slab along the first axis."""
    if mask.ndim < 2:
        coordinates = np.argwhere(mask)
        chosen = np.sort(rng.choice(len(coordinates), count, replace=False)) if len(coordinates) > count else slice(None)
        return coordinates[chosen].astype(np.int32)
    per_slab = np.count_nonzero(mask.reshape(len(mask), -1), axis=1)
    total = int(per_slab.sum())
    if total <= count:
        return np.argwhere(mask).astype(np.int32)
    ranks = np.sort(rng.choice(total, count, replace=False))
    starts = np.concatenate([[0], np.cumsum(per_slab)])
    chosen = []
    for slab in np.flatnonzero(per_slab):
        first, last = np.searchsorted(ranks, [starts[slab], starts[slab + 1]])
        if last > first:
            within = np.flatnonzero(mask[slab])[ranks[first:last] - starts[slab]]
            coordinates = np.unravel_index(within, mask.shape[1:])
            chosen.append(np.stack([np.full(len(within), slab), *coordinates], axis=1))
    return np.concatenate(chosen).astype(np.int32)
