"""Building blocks shared by the stand-in generators: shapes, smooth random fields, MR physics, a brain.

Coordinates are normalised: each spatial axis runs from -1 to 1 across the
field of view, so an anatomy scales with any image size. Arrays follow
autoseg's axis order ((z, y, x) or (y, x)); in the LPS world frame with an
identity direction, +x points to the patient's left, +y posterior, +z superior.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


def normalised_grid(shape: tuple[int, ...]) -> list[np.ndarray]:
    """Returns open-grid coordinates in [-1, 1] per axis, broadcastable to ``shape``."""
    return list(np.ogrid[tuple(slice(-1.0, 1.0, complex(0, n)) for n in shape)])


def smooth_field(shape: tuple[int, ...], rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Returns Gaussian-smoothed white noise with zero mean and unit standard deviation.

    ``sigma`` is in voxels; larger values give slower, blob-like variation.
    """
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="reflect")
    return (field - field.mean()) / (field.std() + 1e-12)


def ellipsoid(
    grid: list[np.ndarray],
    center: tuple[float, ...],
    radii: tuple[float, ...],
    distortion: np.ndarray | float = 0.0,
    angle: float = 0.0,
) -> np.ndarray:
    """Returns a boolean mask of an ellipsoid in normalised coordinates.

    ``distortion`` (a field or scalar) is added to the ellipsoid's level set, so a
    smooth field makes an irregular, organic outline. ``angle`` (radians) rotates
    the shape in the plane of the last two axes.
    """
    offsets = [axis - c for axis, c in zip(grid, center)]
    if angle:
        a, b = offsets[-2], offsets[-1]
        offsets[-2], offsets[-1] = a * np.cos(angle) - b * np.sin(angle), a * np.sin(angle) + b * np.cos(angle)
    level = sum((offset / radius) ** 2 for offset, radius in zip(offsets, radii))
    return level + distortion < 1.0


def bias_field(shape: tuple[int, ...], rng: np.random.Generator, strength: float) -> np.ndarray:
    """Returns a smooth multiplicative field exp(g) imitating MR coil sensitivity; ``strength`` is g's std."""
    return np.exp(strength * smooth_field(shape, rng, sigma=max(shape) / 3.0))


def rician(signal: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Returns the magnitude of ``signal`` plus complex Gaussian noise: MR magnitude images are Rician."""
    real = signal + rng.normal(0.0, sigma, signal.shape)
    imaginary = rng.normal(0.0, sigma, signal.shape)
    return np.sqrt(real**2 + imaginary**2)


def partial_volume(mask: np.ndarray, sigma: float = 0.6) -> np.ndarray:
    """Returns a soft [0, 1] version of ``mask``: edge voxels mix the tissues on either side."""
    return ndimage.gaussian_filter(mask.astype(np.float32), sigma)


@dataclass
class Brain:
    """Tissue masks of a synthetic brain (all boolean, mutually exclusive inside ``head``)."""

    head: np.ndarray  # everything inside the scalp
    scalp: np.ndarray  # skin, fat and skull outside the intracranial space
    csf: np.ndarray  # sulcal and peripheral CSF plus ventricles
    ventricles: np.ndarray
    grey_matter: np.ndarray
    white_matter: np.ndarray
    hippocampi: np.ndarray  # part of grey_matter
    grid: list[np.ndarray]

    @property
    def brain(self) -> np.ndarray:
        """Intracranial space: what a skull-stripping mask keeps."""
        return self.csf | self.grey_matter | self.white_matter


def make_brain(shape: tuple[int, int, int], rng: np.random.Generator, atrophy: float = 0.0, z_coverage: float = 1.0) -> Brain:
    """Returns a brain with subject-specific shape; ``atrophy`` in [0, 1] imitates neurodegeneration.

    Atrophy enlarges the ventricles, widens sulci, shrinks the hippocampi and
    the brain inside an unchanged skull. ``z_coverage`` < 1 images only a slab
    around the centre (as perfusion acquisitions do).
    """
    grid = normalised_grid(shape)
    grid[0] = grid[0] * z_coverage
    scale = rng.uniform(0.92, 1.05)
    coarse = 0.08 * smooth_field(shape, rng, sigma=max(shape) / 6)
    intracranial = ellipsoid(grid, (0.0, 0.0, 0.0), (0.78 * scale, 0.84 * scale, 0.70 * scale), coarse)
    head = ellipsoid(grid, (0.0, 0.0, 0.0), (0.9 * scale, 0.95 * scale, 0.82 * scale), coarse)
    shrink = 1.0 - 0.07 * atrophy
    parenchyma = ellipsoid(grid, (0.0, 0.0, 0.0), (0.76 * scale * shrink, 0.82 * scale * shrink, 0.68 * scale * shrink), coarse)
    gyri = smooth_field(shape, rng, sigma=1.2)
    # Sulci: fine-scale field above a threshold in the outer cortex; atrophy lowers the threshold.
    sulci = parenchyma & (gyri > 1.6 - 0.9 * atrophy) & ~ellipsoid(grid, (0, 0, 0), (0.55 * scale, 0.6 * scale, 0.5 * scale))
    white = ellipsoid(grid, (0.02, 0.0, 0.0), (0.6 * scale * shrink, 0.66 * scale * shrink, 0.55 * scale * shrink), coarse + 0.25 * gyri)
    ventricle_size = 1.0 + 1.2 * atrophy
    ventricles = np.zeros(shape, dtype=bool)
    for side in (-1, 1):
        ventricles |= ellipsoid(grid, (0.12, -0.05, side * 0.1), (0.14 * ventricle_size, 0.32, 0.06 * ventricle_size), 0.1 * coarse)
    hippocampi = np.zeros(shape, dtype=bool)
    hippocampus_size = 1.0 - 0.45 * atrophy
    for side in (-1, 1):
        hippocampi |= ellipsoid(
            grid, (-0.28, 0.05, side * 0.33), (0.07 * hippocampus_size, 0.2 * hippocampus_size, 0.06 * hippocampus_size)
        )
    csf = (intracranial & ~parenchyma) | sulci | ventricles
    white_matter = white & parenchyma & ~csf
    grey_matter = parenchyma & ~csf & ~white_matter
    grey_matter |= hippocampi & parenchyma & ~ventricles
    white_matter &= ~hippocampi
    return Brain(head, head & ~intracranial, csf, ventricles, grey_matter, white_matter, hippocampi & grey_matter, grid)
