"""Normalised surface Dice (NSD): the share of two structures' surface area lying within a tolerance of the other.

The definition is the surface-element-area-weighted one of DeepMind's
surface-distance package (Nikolov et al. 2021), which MONAI's
``compute_surface_dice(use_subvoxels=True)`` also follows:

- The surface lives on the grid of 2 x 2 (2D) or 2 x 2 x 2 (3D) voxel cubes
  whose centres sit half a voxel off the voxel grid. A cube whose corners are
  neither all inside nor all outside the structure holds a surface element:
  the marching-squares segments or marching-cubes triangles of that corner
  configuration (vertices at edge midpoints), whose length or area in mm is
  the element's weight.
- Each element's distance to the other structure is the Euclidean distance (mm)
  from its cube centre to the nearest cube centre holding an element of the
  other structure.
- NSD = (area of P's elements within the tolerance of R + area of R's elements
  within the tolerance of P) / (area of P + area of R), "within" meaning a
  distance at most the tolerance.

Counting elements instead of weighting them by area favours the orientations
with more, smaller elements (on anisotropic grids, the fine axes); the
weighting makes NSD a property of the surfaces, not of the grid.

Empty structures: NaN when both are empty (nothing to score), 0 when only one is.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
from scipy import ndimage
from skimage import measure


@functools.lru_cache(maxsize=2)
def _element_vectors(ndim: int) -> tuple[np.ndarray, ...]:
    """For each corner configuration of a cube (bit k set: corner k inside, corners in C order), the vectors in
    voxel units whose scaled norms give the element's size: marching-squares segment directions (2D) or
    marching-cubes triangle normals of half the cross product's length (3D); none for an empty or full cube."""
    corners = 2**ndim
    vectors = []
    for code in range(2**corners):
        cube = np.array([(code >> k) & 1 for k in range(corners)], dtype=float).reshape((2,) * ndim)
        if code in (0, 2**corners - 1):
            vectors.append(np.zeros((0, ndim)))
        elif ndim == 2:
            vectors.append(np.concatenate([np.diff(line, axis=0) for line in measure.find_contours(cube, 0.5)]))
        else:
            vertices, faces, _, _ = measure.marching_cubes(cube, 0.5)
            first, second = vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]]
            vectors.append(np.cross(first, second) / 2)
    return tuple(vectors)


@functools.lru_cache(maxsize=16)
def element_sizes(ndim: int, spacing: tuple[float, ...]) -> np.ndarray:
    """The size of the surface element of each cube configuration for this spacing: length in mm (2D), area in
    mm^2 (3D). A segment's direction scales by the spacing; a triangle's normal by the product of the other two
    axes' spacings (the cross product of the scaled edges)."""
    if ndim not in (2, 3):
        raise ValueError(f"surface Dice is defined for 2D and 3D masks, not {ndim}D")
    spacing_array = np.asarray(spacing, dtype=float)
    scale = spacing_array if ndim == 2 else np.prod(spacing_array) / spacing_array
    return np.array([np.linalg.norm(v * scale, axis=1).sum() for v in _element_vectors(ndim)])


def _cube_codes(mask: np.ndarray) -> np.ndarray:
    """The corner configuration of every cube of the mask padded by one outside voxel on each side."""
    padded = np.pad(mask, 1)
    codes = np.zeros(tuple(n - 1 for n in padded.shape), dtype=np.int32)
    for bit, offset in enumerate(itertools.product((0, 1), repeat=mask.ndim)):
        corner = tuple(slice(o, o + n - 1) for o, n in zip(offset, padded.shape))
        codes |= padded[corner].astype(np.int32) << bit
    return codes


def crop_to_both(prediction: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both masks cut to the box around either: outside it neither has a surface, so nothing changes."""
    either = prediction | reference
    box = tuple(slice(int(idx.min()), int(idx.max()) + 1) for idx in np.nonzero(either))
    return prediction[box], reference[box]


def normalised_surface_dice(prediction: np.ndarray, reference: np.ndarray, spacing, tolerance_mm: float) -> float:
    """The surface Dice of two boolean masks (2D or 3D, voxel ``spacing`` in mm) at ``tolerance_mm`` (see above)."""
    prediction, reference = prediction.astype(bool), reference.astype(bool)
    if prediction.shape != reference.shape:
        raise ValueError(f"prediction {prediction.shape} and reference {reference.shape} differ in shape")
    if not math.isfinite(tolerance_mm) or tolerance_mm < 0:
        raise ValueError(f"the surface Dice tolerance must be a distance in mm >= 0, not {tolerance_mm}")
    has_prediction, has_reference = bool(prediction.any()), bool(reference.any())
    if not (has_prediction or has_reference):
        return math.nan
    if not (has_prediction and has_reference):
        return 0.0
    spacing = tuple(float(s) for s in spacing)
    sizes = element_sizes(prediction.ndim, spacing)
    prediction, reference = crop_to_both(prediction, reference)
    predicted_sizes, reference_sizes = sizes[_cube_codes(prediction)], sizes[_cube_codes(reference)]
    predicted_elements, reference_elements = predicted_sizes > 0, reference_sizes > 0
    to_reference = ndimage.distance_transform_edt(~reference_elements, sampling=spacing)
    to_prediction = ndimage.distance_transform_edt(~predicted_elements, sampling=spacing)
    close = predicted_sizes[predicted_elements & (to_reference <= tolerance_mm)].sum()
    close += reference_sizes[reference_elements & (to_prediction <= tolerance_mm)].sum()
    return float(close / (predicted_sizes.sum() + reference_sizes.sum()))
