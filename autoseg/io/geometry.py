"""The in-memory image convention used everywhere in autoseg.

An image is an array of shape ``(C, *spatial)`` plus a :class:`Geometry`.

Axis order
----------
Spatial axes are in NumPy order, exactly as ``SimpleITK.GetArrayFromImage``
returns them: ``(z, y, x)`` for 3D images and ``(y, x)`` for 2D images.
Every reader converts to this order and every writer converts back, so no
other module ever guesses.

* ``spacing[i]`` is the voxel size in millimetres along spatial array axis
  ``i`` (so it is reversed with respect to ``SimpleITK.Image.GetSpacing()``).
* ``origin`` is the physical position (mm) of the first voxel in ITK's LPS
  world coordinates, in world order ``(x, y, z)``.
* ``direction`` is ITK's direction cosine matrix flattened row-major, with
  column ``j`` giving the world direction of ITK index axis ``j`` (the x index
  first), as ``SimpleITK.Image.GetDirection()`` returns it.

``origin`` and ``direction`` are only carried from reader to writer; all array
processing uses ``spacing`` alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Geometry:
    """Spacing (array order), origin and direction (ITK world order) of an image."""

    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    def __post_init__(self) -> None:
        ndim = len(self.spacing)
        if len(self.origin) != ndim or len(self.direction) != ndim * ndim:
            raise ValueError(
                f"inconsistent geometry: {ndim} spacings, {len(self.origin)} origin values, "
                f"{len(self.direction)} direction values (expected {ndim}, {ndim}, {ndim * ndim})"
            )
        object.__setattr__(self, "spacing", tuple(float(s) for s in self.spacing))
        object.__setattr__(self, "origin", tuple(float(o) for o in self.origin))
        object.__setattr__(self, "direction", tuple(float(d) for d in self.direction))

    @classmethod
    def identity(cls, spacing: tuple[float, ...]) -> "Geometry":
        """Returns a geometry with the given spacing, zero origin and identity direction."""
        ndim = len(spacing)
        return cls(tuple(spacing), (0.0,) * ndim, tuple(np.eye(ndim).ravel()))

    @property
    def ndim(self) -> int:
        return len(self.spacing)

    def to_json(self) -> dict:
        return {"spacing": list(self.spacing), "origin": list(self.origin), "direction": list(self.direction)}

    @classmethod
    def from_json(cls, data: dict) -> "Geometry":
        return cls(tuple(data["spacing"]), tuple(data["origin"]), tuple(data["direction"]))

    def problems(self) -> list[str]:
        """What makes this geometry unusable (empty if nothing): a spacing that is not a positive finite number
        (a zero column in a NIfTI affine, an unset header), a non-finite origin, or a direction matrix that is
        not finite or is singular (its axes do not span the space, so the voxels have no position)."""
        found = []
        spacing = np.asarray(self.spacing)
        bad = [axis for axis, value in enumerate(spacing) if not (np.isfinite(value) and value > 0)]
        if bad:
            found.append(
                f"spacing {_fmt(self.spacing)} is not positive along array axis {', '.join(map(str, bad))}; the header's voxel size "
                "(or the affine's column) is zero, negative or unset: write the image again with its true spacing"
            )
        if not np.isfinite(self.origin).all():
            found.append(f"origin {_fmt(self.origin)} is not finite: write the image again with its true origin")
        direction = np.asarray(self.direction).reshape(self.ndim, self.ndim)
        if not np.isfinite(direction).all() or abs(float(np.linalg.det(direction))) < 1e-6:
            found.append(
                f"direction {_fmt(self.direction)} is singular (its axes do not span the space); write the image again with a "
                "valid orientation (e.g. the identity)"
            )
        return found

    def differences(
        self,
        other: "Geometry",
        spacing_rtol: float = 1e-3,
        origin_atol_mm: float = 1e-3,
        direction_atol: float = 1e-3,
    ) -> list[str]:
        """Returns human-readable differences from ``other`` beyond the tolerances (empty if none).

        Spacing is compared relatively, origin in millimetres, direction cosines absolutely.
        """
        if self.ndim != other.ndim:
            return [f"dimensionality {self.ndim}D vs {other.ndim}D"]
        found = []
        if not np.allclose(self.spacing, other.spacing, rtol=spacing_rtol, atol=0):
            found.append(f"spacing {_fmt(self.spacing)} vs {_fmt(other.spacing)}")
        if not np.allclose(self.origin, other.origin, rtol=0, atol=origin_atol_mm):
            found.append(f"origin {_fmt(self.origin)} vs {_fmt(other.origin)}")
        if not np.allclose(self.direction, other.direction, rtol=0, atol=direction_atol):
            found.append(f"direction {_fmt(self.direction)} vs {_fmt(other.direction)}")
        return found


def _fmt(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


@dataclass
class ImageData:
    """An image: ``array`` of shape ``(C, *spatial)`` and its :class:`Geometry`."""

    array: np.ndarray
    geometry: Geometry

    def __post_init__(self) -> None:
        if self.array.ndim != self.geometry.ndim + 1:
            raise ValueError(f"array of shape {self.array.shape} does not match a {self.geometry.ndim}D geometry; expected (C, *spatial)")

    @property
    def num_channels(self) -> int:
        return self.array.shape[0]

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape[1:])
