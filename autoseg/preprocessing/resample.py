"""Resampling of images, labels and regression targets between grids.

Arrays are ``(C, *spatial)``. Images use third-order splines, labels are
resampled as one-hot maps with linear interpolation then argmax (no label
can appear from nowhere, and thin structures survive better than with
nearest neighbour), regression targets use linear interpolation.

When the grid is strongly anisotropic (coarsest / finest spacing > 3), the
coarse axis is handled separately: the spline (or linear) interpolation runs
within each slice, and across slices only nearest-neighbour is used, because
interpolating across 5 mm slices invents anatomy that no slice showed.

With ``clip`` (nnU-Net's models, which were trained so: scikit-image's
resize), spline output is clipped to the range of what it interpolated: the
whole volume, or each slice where the coarse axis is handled apart.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

# Above this ratio of coarsest to finest spacing (or patch edge) the coarse axis is treated apart: resampled
# separately here, planned from a percentile in planners/default.py, not rotated in data/augmentation.py.
ANISOTROPY_THRESHOLD = 3.0


def new_shape(shape: tuple[int, ...], spacing: tuple[float, ...], target_spacing: tuple[float, ...]) -> tuple[int, ...]:
    """Returns the spatial shape covering the same extent at ``target_spacing``. An axis one voxel thick stays one
    voxel thick: a single slice has no extent along it to resample (a thinner target spacing would invent slices)."""
    return tuple(1 if n == 1 else max(1, int(round(n * s / t))) for n, s, t in zip(shape, spacing, target_spacing))


def separate_axis(spacing: tuple[float, ...], target_spacing: tuple[float, ...]) -> int | None:
    """Returns the axis to resample separately (the coarse axis of anisotropic data), or None: the first grid that is
    anisotropic decides, and where two axes are equally coarse (3 x 3 x 0.5 mm) neither is set apart (nnU-Net's rule)."""
    for grid in (spacing, target_spacing):
        if len(grid) == 3 and max(grid) / min(grid) > ANISOTROPY_THRESHOLD:
            coarsest = [axis for axis, value in enumerate(grid) if value == max(grid)]
            return coarsest[0] if len(coarsest) == 1 else None
    return None


def _zoom(volume: np.ndarray, shape: tuple[int, ...], order: int, clip: bool = False) -> np.ndarray:
    if volume.shape == tuple(shape):
        return volume
    factors = [n / o for n, o in zip(shape, volume.shape)]
    zoomed = ndimage.zoom(volume, factors, order=order, mode="nearest", grid_mode=True, prefilter=order > 1)
    return np.clip(zoomed, volume.min(), volume.max(), out=zoomed) if clip and order > 1 else zoomed


def _resample_volume(volume: np.ndarray, shape: tuple[int, ...], order: int, axis: int | None, clip: bool = False) -> np.ndarray:
    if axis is None:
        return _zoom(volume, shape, order, clip)
    in_plane = [n for a, n in enumerate(shape) if a != axis]
    slices = np.moveaxis(volume, axis, 0)
    resized = np.stack([_zoom(plane, tuple(in_plane), order, clip) for plane in slices])
    resized = np.moveaxis(resized, 0, axis)
    return _zoom(resized, shape, 0)


def resample_image(array: np.ndarray, shape: tuple[int, ...], axis: int | None = None, order: int = 3, clip: bool = False) -> np.ndarray:
    """Returns ``array`` (C, *spatial) resampled to ``shape`` with splines of ``order`` (float32); ``clip``: see above."""
    if array.shape[1:] == tuple(shape):
        return array.astype(np.float32, copy=False)
    return np.stack([_resample_volume(channel.astype(np.float32), shape, order, axis, clip) for channel in array])


def resample_label(label: np.ndarray, shape: tuple[int, ...], axis: int | None = None) -> np.ndarray:
    """Returns label maps (C, *spatial) resampled to ``shape`` through one-hot linear interpolation, each channel a
    label map of its own (one for segmentation; one binary map per structure for overlapping structures)."""
    if label.shape[1:] == tuple(shape):
        return label
    return np.stack([_resample_label_map(channel, shape, axis) for channel in label])


def _resample_label_map(label: np.ndarray, shape: tuple[int, ...], axis: int | None) -> np.ndarray:
    best = np.full(shape, -1.0, dtype=np.float32)
    out = np.zeros(shape, dtype=label.dtype)
    for value in np.unique(label):
        score = _resample_volume((label == value).astype(np.float32), shape, 1, axis)
        better = score > best
        out[better] = value
        best[better] = score[better]
    return out
