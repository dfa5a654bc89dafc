"""Intensity normalisation schemes, chosen per channel by name and stored in plans.json.

Each scheme, what it is for, and what it does:

* ``ct`` (a channel named CT): clip to the dataset's foreground 0.5/99.5
  percentiles, z-score with the dataset's foreground mean and std (Hounsfield
  units mean the same in every scan);
* ``zscore`` (MR and anything unnamed): z-score each image with its own mean
  and std, inside the non-zero mask when cropping removed much of the image
  (outside set to 0);
* ``pet`` (names containing PET): divide by the dataset's foreground mean:
  zero stays zero, uptake ratios between and within subjects are kept, hot
  lesions are not clipped;
* ``scale`` (non-negative regression targets): like ``pet``, divide by the
  dataset's target mean; exactly reversible;
* ``zscore_dataset`` (signed regression targets): z-score with the dataset's
  target mean and std; exactly reversible;
* ``rgb`` (8-bit natural images: rgb, red, green, blue, gray): divide by 255;
* ``rescale_to_0_1`` (channels named so, as in nnU-Net): each image mapped
  from its own minimum and maximum onto 0..1;
* ``noNorm`` (channels named noNorm): unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from autoseg.errors import AutosegError
from autoseg.registry import Registry


@dataclass
class ChannelNormalisation:
    """How one input channel (or regression target) is normalised; ``parameters`` hold dataset statistics."""

    scheme: str
    use_nonzero_mask: bool = False
    parameters: dict[str, float] = field(default_factory=dict)


class Scheme:
    """Normalises (and, where it is defined, restores) one channel: ``(spatial...)`` float32 arrays."""

    name = ""
    reversible = False
    non_negative = False  # restored values are never below 0 (targets planned with it are clipped there)

    def normalise(self, image: np.ndarray, mask: np.ndarray | None, parameters: dict) -> np.ndarray:
        raise NotImplementedError

    def restore(self, image: np.ndarray, parameters: dict) -> np.ndarray:
        raise AutosegError(f"normalisation {self.name!r} cannot be undone; regression targets need 'scale' or 'zscore_dataset'.")

    def affine(self, parameters: dict) -> tuple[float, float] | None:
        """(a, b) when the scheme is one affine map for the whole dataset, normalised = a * raw + b;
        None when it depends on the image (per-image z-score) or is not affine (clipping)."""
        return None


SCHEMES: Registry[Scheme] = Registry("normalisation scheme")


def register_scheme(cls: type[Scheme]) -> type[Scheme]:
    SCHEMES.add(cls.name, cls())
    return cls


def get_scheme(name: str) -> Scheme:
    return SCHEMES.get(name)


@register_scheme
class CTScheme(Scheme):
    name = "ct"

    def normalise(self, image, mask, parameters):
        normalised = np.clip(image, parameters["percentile_00_5"], parameters["percentile_99_5"], dtype=np.float32)
        normalised -= np.float32(parameters["mean"])
        normalised /= np.float32(max(parameters["std"], 1e-8))
        return normalised


@register_scheme
class ZScorePerImage(Scheme):
    name = "zscore"

    def normalise(self, image, mask, parameters):
        values = image[mask] if mask is not None and mask.any() else image
        normalised = (image - values.mean()) / max(float(values.std()), 1e-8)
        if mask is not None:
            normalised = np.where(mask, normalised, 0)
        return normalised.astype(np.float32)


@register_scheme
class PETScheme(Scheme):
    name = "pet"

    def normalise(self, image, mask, parameters):
        return (image / max(parameters["mean"], 1e-8)).astype(np.float32)

    def affine(self, parameters):
        return 1 / max(parameters["mean"], 1e-8), 0.0


@register_scheme
class ScaleScheme(PETScheme):
    name = "scale"
    reversible = True
    non_negative = True

    def restore(self, image, parameters):
        return (image * max(parameters["mean"], 1e-8)).astype(np.float32)


@register_scheme
class ZScoreDataset(Scheme):
    name = "zscore_dataset"
    reversible = True

    def normalise(self, image, mask, parameters):
        return ((image - parameters["mean"]) / max(parameters["std"], 1e-8)).astype(np.float32)

    def affine(self, parameters):
        std = max(parameters["std"], 1e-8)
        return 1 / std, -parameters["mean"] / std

    def restore(self, image, parameters):
        return (image * max(parameters["std"], 1e-8) + parameters["mean"]).astype(np.float32)


@register_scheme
class RGBScheme(Scheme):
    name = "rgb"

    def normalise(self, image, mask, parameters):
        return (image / 255.0).astype(np.float32)

    def affine(self, parameters):
        return 1 / 255.0, 0.0


@register_scheme
class RescaleTo01(Scheme):
    name = "rescale_to_0_1"

    def normalise(self, image, mask, parameters):
        shifted = image - image.min()
        return (shifted / max(float(shifted.max()), 1e-8)).astype(np.float32)


@register_scheme
class NoNormalisation(Scheme):
    name = "noNorm"

    def normalise(self, image, mask, parameters):
        return image.astype(np.float32)

    def affine(self, parameters):
        return 1.0, 0.0


_RGB_NAMES = {"rgb", "r", "g", "b", "red", "green", "blue", "gray", "grey"}


def scheme_for_channel(channel_name: str) -> str:
    """Returns the scheme name a channel gets by default from its name in dataset.json."""
    lowered = channel_name.strip().lower()
    if lowered == "ct":
        return "ct"
    if lowered == "nonorm":
        return "noNorm"
    if lowered == "rescale_to_0_1":
        return "rescale_to_0_1"
    if lowered in _RGB_NAMES:
        return "rgb"
    if re.search(r"(^|[^a-z])pet([^a-z]|$)", lowered):
        return "pet"
    return "zscore"


def normalise_channels(channels: np.ndarray, mask: np.ndarray, normalisation: dict[str, ChannelNormalisation]) -> np.ndarray:
    """Returns ``channels`` (C, *spatial) normalised channel by channel as the plans say."""

    def normalised(index: int) -> np.ndarray:
        setting = normalisation[str(index)]
        image = channels[index].astype(np.float32)
        return get_scheme(setting.scheme).normalise(image, mask if setting.use_nonzero_mask else None, setting.parameters)

    if channels.shape[0] == 1:  # a CT: no second float32 copy of a whole-body volume
        return np.asarray(normalised(0), dtype=np.float32)[None]
    out = np.empty(channels.shape, dtype=np.float32)
    for index in range(channels.shape[0]):
        out[index] = normalised(index)
    return out


def restore_targets(targets: np.ndarray, normalisation: dict[str, ChannelNormalisation]) -> np.ndarray:
    """Undoes the regression targets' normalisation: (T, *spatial) in, original units out."""
    return np.stack(
        [get_scheme(normalisation[str(i)].scheme).restore(targets[i], normalisation[str(i)].parameters) for i in range(targets.shape[0])]
    )
