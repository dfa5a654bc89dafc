"""Resampling of images, labels and regression targets between grids.

Arrays are ``(C, *spatial)``. Images use third-order splines, labels are
resampled as one-hot maps with linear interpolation then argmax (no label
can appear from nowhere, and thin structures survive better than with
nearest neighbour; computed only near boundaries, see ``_linear_label_map``),
regression targets use linear interpolation.

When the grid is strongly anisotropic (coarsest / finest spacing > 3), the
coarse axis is handled separately: the spline (or linear) interpolation runs
within each slice, and across slices only nearest-neighbour is used, because
interpolating across 5 mm slices invents anatomy that no slice showed.

With ``clip`` (nnU-Net's models, which were trained so: scikit-image's
resize), spline output is clipped to the range of what it interpolated: the
whole volume, or each slice where the coarse axis is handled apart.
"""

from __future__ import annotations

import itertools

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


SLAB_VOXELS = 2**24  # spline resampling of a volume with more output voxels than this runs in slabs along axis 0
SLAB_MARGIN = 16  # extra source slices on each side of a slab: the prefilter's edge effect decays as 0.27**16 ~ 1e-9


def _zoom(volume: np.ndarray, shape: tuple[int, ...], order: int, clip: bool = False) -> np.ndarray:
    if volume.shape == tuple(shape):
        return volume
    if order > 1 and volume.ndim == 3 and np.prod(shape, dtype=np.int64) > SLAB_VOXELS:
        zoomed = _zoom_in_slabs(volume, shape, order)
    else:
        factors = [n / o for n, o in zip(shape, volume.shape)]
        zoomed = ndimage.zoom(volume, factors, order=order, mode="nearest", grid_mode=True, prefilter=order > 1)
    return np.clip(zoomed, volume.min(), volume.max(), out=zoomed) if clip and order > 1 else zoomed


def _zoom_in_slabs(volume: np.ndarray, shape: tuple[int, ...], order: int) -> np.ndarray:
    """``ndimage.zoom`` (grid mode, edges repeated, prefiltered splines of ``order``) computed slab by slab along
    axis 0: each slab of output slices from the source slices it reads plus SLAB_MARGIN on each side, so a whole-body
    CT needs a slab's float64 spline coefficients, not the whole volume's (2.4 float32 copies of it). Equal to the
    whole-volume zoom within float32 rounding (tested)."""
    steps = [n / m for n, m in zip(volume.shape, shape)]  # source voxels per output voxel, per axis
    out = np.empty(shape, dtype=volume.dtype)
    per_slab = max(1, SLAB_VOXELS // int(np.prod(shape[1:])))
    for start in range(0, shape[0], per_slab):
        stop = min(shape[0], start + per_slab)
        first = max(0, int(np.floor((start + 0.5) * steps[0] - 0.5)) - order // 2 - 1 - SLAB_MARGIN)
        last = min(volume.shape[0], int(np.floor((stop - 0.5) * steps[0] - 0.5)) + order // 2 + 2 + SLAB_MARGIN)
        offset = [(start + 0.5) * steps[0] - 0.5 - first, *(0.5 * step - 0.5 for step in steps[1:])]
        out[start:stop] = ndimage.affine_transform(
            volume[first:last], steps, offset, output_shape=(stop - start, *shape[1:]), order=order, mode="nearest", prefilter=True
        )
    return out


def _resample_volume(volume: np.ndarray, shape: tuple[int, ...], order: int, axis: int | None, clip: bool = False) -> np.ndarray:
    if axis is None:
        return _zoom(volume, shape, order, clip)
    in_plane = tuple(n for a, n in enumerate(shape) if a != axis)
    slices = np.moveaxis(volume, axis, 0)
    resized = np.empty((len(slices), *in_plane), dtype=volume.dtype)  # filled slice by slice: no list of slices
    for index, plane in enumerate(slices):
        resized[index] = _zoom(plane, in_plane, order, clip)
    return _zoom(np.moveaxis(resized, 0, axis), shape, 0)


def resample_image(array: np.ndarray, shape: tuple[int, ...], axis: int | None = None, order: int = 3, clip: bool = False) -> np.ndarray:
    """Returns ``array`` (C, *spatial) resampled to ``shape`` with splines of ``order`` (float32); ``clip``: see above."""
    if array.shape[1:] == tuple(shape):
        return array.astype(np.float32, copy=False)
    out = np.empty((len(array), *shape), dtype=np.float32)
    for index, channel in enumerate(array):
        out[index] = _resample_volume(channel.astype(np.float32, copy=False), shape, order, axis, clip)
    return out


def resample_label(label: np.ndarray, shape: tuple[int, ...], axis: int | None = None) -> np.ndarray:
    """Returns label maps (C, *spatial) resampled to ``shape`` through one-hot linear interpolation, each channel a
    label map of its own (one for segmentation; one binary map per structure for overlapping structures)."""
    if label.shape[1:] == tuple(shape):
        return label
    return np.stack([_resample_label_map(channel, shape, axis) for channel in label])


def _resample_label_map(label: np.ndarray, shape: tuple[int, ...], axis: int | None) -> np.ndarray:
    if axis is None:
        return _linear_label_map(label, shape)
    within_slices = tuple(n if a == axis else m for a, (n, m) in enumerate(zip(label.shape, shape)))
    return _zoom(_linear_label_map(label, within_slices), shape, 0)


def _linear_label_map(label: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """What interpolating each label's one-hot map linearly (``ndimage.zoom``, order 1) and taking the label of the
    highest score (the lowest label on a tie) gives, computed only where it can differ from the nearest lower
    source voxel: at output voxels whose source corners hold more than one label (a thin shell around each
    boundary). Identical to the one-hot way (tested), without a whole-volume interpolation per label."""
    if label.shape == tuple(shape):
        return label.copy()
    axes = [_linear_weights(n, m) for n, m in zip(label.shape, shape)]
    size = [1 if n == m else 2 for n, m in zip(label.shape, shape)]  # source corners: i and i + 1 on zoomed axes
    origin = [0 if s == 1 else -1 for s in size]
    mixed = ndimage.maximum_filter(label, size, origin=origin, mode="nearest") != ndimage.minimum_filter(
        label, size, origin=origin, mode="nearest"
    )
    lower = np.ix_(*[low for low, _, _ in axes])
    out = label[lower]
    where = np.nonzero(mixed[lower])
    if not where[0].size:
        return out
    corner_labels, corner_weights = [], []
    for corner in itertools.product((False, True), repeat=label.ndim):
        index, weight = [], np.ones(where[0].size)
        for upper_corner, (low, high, fraction), at in zip(corner, axes, where):
            index.append((high if upper_corner else low)[at])
            weight = weight * (fraction[at] if upper_corner else 1.0 - fraction[at])
        corner_labels.append(label[tuple(index)])
        corner_weights.append(weight)
    best = np.full(where[0].size, -1.0, dtype=np.float32)
    chosen = np.zeros(where[0].size, dtype=label.dtype)
    for value in np.unique(corner_labels):
        score = sum(np.where(values == value, weight, 0.0) for values, weight in zip(corner_labels, corner_weights)).astype(np.float32)
        better = score > best
        chosen[better] = value
        best[better] = score[better]
    out[where] = chosen
    return out


def _linear_weights(n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of ``m`` output positions over ``n`` source voxels (zoom's grid mode, edges repeated): the lower and
    upper source index and the upper one's weight."""
    coordinate = (np.arange(m) + 0.5) * (n / m) - 0.5
    floor = np.floor(coordinate)
    return np.clip(floor, 0, n - 1).astype(np.intp), np.clip(floor + 1, 0, n - 1).astype(np.intp), coordinate - floor
