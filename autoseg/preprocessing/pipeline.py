"""The per-case preprocessing pipeline (crop, normalise, resample) and its exact inverse.

``preprocess_case`` turns raw arrays into what the network trains on;
``revert_to_original`` takes a network output on the preprocessed grid back to
the raw image's grid, so predictions are exported in the input's geometry.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from autoseg.io import Geometry
from autoseg.preprocessing.crop import bounding_box, crop, nonzero_mask, uncrop
from autoseg.preprocessing.normalisation import normalise_channels
from autoseg.preprocessing.resample import new_shape, resample_image, resample_label, separate_axis

if TYPE_CHECKING:
    from autoseg.plans import Configuration, Plans


@dataclass
class CaseProperties:
    """What is needed to map a preprocessed case back to its raw grid (saved as ``{case}.json``)."""

    case_id: str
    geometry: dict
    original_shape: list[int]
    crop_box: list[list[int]]
    cropped_shape: list[int]
    spacing: list[float]
    class_index: int | None = None
    subject: str | None = None
    locations: dict[str, int] = field(default_factory=dict)  # class -> number of stored foreground locations

    @property
    def original_geometry(self) -> Geometry:
        return Geometry.from_json(self.geometry)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "CaseProperties":
        return cls(**data)

    @classmethod
    def from_record(cls, case_id: str, geometry: Geometry, record: dict, **extra) -> "CaseProperties":
        """The properties of a case ``preprocess_case`` returned ``record`` for (``extra``: class, subject, locations)."""
        return cls(
            case_id, geometry.to_json(), record["original_shape"], record["box"], record["cropped_shape"], list(geometry.spacing), **extra
        )


def preprocess_case(
    channels: np.ndarray,
    geometry: Geometry,
    target: np.ndarray | None,
    *,
    plans: Plans,
    configuration: Configuration,
    target_is_label: bool,
) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """Returns (data, target, geometry record) on the configuration's grid.

    ``channels`` (C, *spatial) raw intensities; ``target`` (1, *spatial) label
    or (T, *spatial) regression targets, or None. Steps: crop to the non-zero
    region, normalise each channel (inside that region's mask where planned),
    resample data with cubic splines and the target as a label or linearly.
    """
    mask = nonzero_mask(channels)
    box = bounding_box(mask)
    data = normalise_channels(crop(channels, box), crop(mask[None], box)[0], plans.normalisation)
    cropped_shape = data.shape[1:]
    spacing = tuple(configuration.grid_spacing(geometry.spacing))
    shape = new_shape(cropped_shape, geometry.spacing, spacing)
    axis = separate_axis(geometry.spacing, spacing)
    data = resample_image(data, shape, axis, clip=configuration.nnunet_inference)
    if target is not None:
        target = crop(target, box)
        if target_is_label:
            target = resample_label(target, shape, axis)
        else:
            target = normalise_targets(target.astype(np.float32), plans)
            target = resample_image(target, shape, axis, order=1)
    record = {"box": [list(b) for b in box], "cropped_shape": list(cropped_shape), "original_shape": list(channels.shape[1:])}
    return data, target, record


def labels_on_grid(labels: np.ndarray, properties: CaseProperties, configuration: Configuration) -> np.ndarray:
    """A label map on a case's raw grid (*spatial) moved onto its preprocessed grid in ``configuration``:
    cropped to the case's box and resampled as labels, exactly as its reference labels were (the cascade's
    previous-stage prediction becomes an input this way)."""
    box = [tuple(b) for b in properties.crop_box]
    cropped = crop(labels[None], box)
    spacing = tuple(properties.spacing)
    target = tuple(configuration.grid_spacing(spacing))
    shape = new_shape(tuple(properties.cropped_shape), spacing, target)
    return resample_label(cropped, shape, separate_axis(spacing, target))[0]


def normalise_targets(target: np.ndarray, plans: Plans) -> np.ndarray:
    """Returns regression targets (T, *spatial) in the plans' normalised units."""
    from autoseg.preprocessing.normalisation import get_scheme

    return np.stack(
        [
            get_scheme(plans.target_normalisation[str(t)].scheme).normalise(target[t], None, plans.target_normalisation[str(t)].parameters)
            for t in range(target.shape[0])
        ]
    )


def revert_to_original(
    array: np.ndarray, properties: CaseProperties, configuration_spacing: list[float], fill: float | list[float] = 0.0, order: int = 1
) -> np.ndarray:
    """Returns ``array`` (K, *preprocessed) resampled to the cropped raw grid and placed into the raw shape.

    Use order 1 for probabilities and regression outputs; ``fill`` is the value
    outside the crop box, per channel if a list (e.g. background probability 1).
    """
    axis = separate_axis(tuple(configuration_spacing), tuple(properties.spacing))
    resampled = resample_image(array, tuple(properties.cropped_shape), axis, order=order)
    fills = fill if isinstance(fill, list) else [fill] * resampled.shape[0]
    return np.stack(
        [
            uncrop(channel[None], [tuple(b) for b in properties.crop_box], tuple(properties.original_shape), f)[0]
            for channel, f in zip(resampled, fills)
        ]
    )
