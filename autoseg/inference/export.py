"""From a network's output on the preprocessed grid to arrays on the raw image's grid (the case writer,
autoseg/tasks/writers.py, writes them in its geometry and format).

Export runs in torch on the prediction's device (the GPU when there is one):
each output channel is turned into a probability, resampled linearly to the
cropped raw grid and placed into the raw shape, one channel at a time. The
label map is built as the channels arrive (running maximum for softmax
outputs, painting for regions), so memory holds one raw-grid probability
besides the label map, whatever the number of classes. Only when the
probabilities are to be saved is the whole (K, *raw) array built. A model
imported from nnU-Net (``nnunet_inference``) has its logits resampled to the
cropped grid first and the softmax taken there, as nnU-Net does; for the
label map alone, each resampled logit map is compared as it arrives (the
softmax keeps their order), so a whole-body CT never holds every class at full
resolution.

The resampling reproduces ``autoseg.preprocessing.revert_to_original``
(scipy, order 1): sample positions ``(i + 0.5) * in / out - 0.5`` clamped to
the grid; across the slices of anisotropic data, the nearest slice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.nn import functional

from autoseg.io import atomic_write
from autoseg.plans import Configuration
from autoseg.preprocessing.normalisation import get_scheme
from autoseg.preprocessing.pipeline import CaseProperties
from autoseg.preprocessing.resample import separate_axis


def _nearest_along(volume: torch.Tensor, axis: int, size: int) -> torch.Tensor:
    """Nearest-neighbour resampling of one axis, scipy's grid-mode positions."""
    length = volume.shape[axis]
    if length == size:
        return volume
    index = torch.clamp(((torch.arange(size, device=volume.device) + 0.5) * (length / size)).floor().long(), 0, length - 1)
    return volume.index_select(axis, index)


def resize_linear(volume: torch.Tensor, shape: tuple[int, ...], separate: int | None = None) -> torch.Tensor:
    """Returns ``volume`` (*spatial, float) linearly resampled to ``shape``; with ``separate``, that axis
    is resampled by nearest neighbour and the others slice by slice."""
    shape = tuple(int(s) for s in shape)
    if tuple(volume.shape) == shape:
        return volume
    if separate is None:
        mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[volume.ndim]
        return functional.interpolate(volume[None, None], size=shape, mode=mode, align_corners=False)[0, 0]
    in_plane = tuple(s for axis, s in enumerate(shape) if axis != separate)
    slices = volume.movedim(separate, 0)
    mode = "bilinear" if len(in_plane) == 2 else "linear"
    resized = (
        functional.interpolate(slices[:, None], size=in_plane, mode=mode, align_corners=False)[:, 0]
        if tuple(slices.shape[1:]) != in_plane
        else slices
    )
    return _nearest_along(resized.movedim(0, separate), separate, shape[separate])


def revert_channel(channel: torch.Tensor, properties: CaseProperties, configuration_spacing: list[float], fill: float) -> torch.Tensor:
    """Returns one channel (*preprocessed) on the raw grid: resampled to the cropped shape, ``fill`` outside the crop box."""
    return uncrop_channel(resize_to_crop(channel, properties, configuration_spacing), properties, fill)


def resize_to_crop(channel: torch.Tensor, properties: CaseProperties, configuration_spacing: list[float]) -> torch.Tensor:
    """One channel (*preprocessed) resampled linearly to the case's cropped raw shape."""
    separate = separate_axis(tuple(configuration_spacing), tuple(properties.spacing))
    return resize_linear(channel.float(), tuple(properties.cropped_shape), separate)


def uncrop_channel(channel: torch.Tensor, properties: CaseProperties, fill: float) -> torch.Tensor:
    """One channel on the cropped raw grid placed into the raw shape, ``fill`` outside the crop box."""
    if tuple(channel.shape) == tuple(properties.original_shape):
        return channel  # nothing was cropped (a CT's air is not zero)
    full = torch.full(tuple(properties.original_shape), fill, dtype=channel.dtype, device=channel.device)
    full[tuple(slice(start, stop) for start, stop in properties.crop_box)] = channel
    return full


def restore_segmentation(
    logits: torch.Tensor,
    properties: CaseProperties,
    configuration: Configuration,
    *,
    task,
    probabilities: bool = False,
    device: torch.device | str | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The label map (*raw spatial) for ``logits`` (K, *preprocessed) on the raw grid, and with ``probabilities``
    the per-class probabilities there (float32 (K, *raw spatial)). ``task``: the segmentation task of the
    dataset (probabilities, label map). ``device``: where to compute (default: where ``logits`` are)."""
    logits = logits.to(device) if device is not None else logits
    fills = task.background_fill()
    spacing = configuration.grid_spacing(properties.spacing)
    if configuration.nnunet_inference and not probabilities:  # the label map from one resampled logit map at a time
        resized = (_own(resize_to_crop(channel, properties, spacing), channel) for channel in logits)
        labels = task.label_map_from_channels(task.label_scores(resized))
        return uncrop_channel(labels, properties, 0).cpu().numpy(), None
    if configuration.nnunet_inference:  # nnU-Net resamples the logits, then takes the softmax (or sigmoids)
        cropped = torch.stack([resize_to_crop(channel, properties, spacing) for channel in logits])
        channels = (uncrop_channel(p, properties, fill) for p, fill in zip(task.channel_probabilities(cropped), fills))
    else:
        channels = (revert_channel(p, properties, spacing, fill) for p, fill in zip(task.channel_probabilities(logits), fills))
    if not probabilities:
        return task.label_map_from_channels(channels).cpu().numpy(), None
    stacked = torch.stack(list(channels)).cpu().numpy()
    return task.label_map(stacked), stacked


def _own(resized: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """``resized``, copied where it is ``source`` itself (nothing to resample): the label map's running maximum is
    kept in the first channel, which must not be the caller's logits."""
    return resized.clone() if resized.data_ptr() == source.data_ptr() else resized


def restore_regression(
    outputs: torch.Tensor,
    properties: CaseProperties,
    configuration: Configuration,
    target_normalisation: dict,
    device: torch.device | str | None = None,
) -> list[np.ndarray]:
    """Each target of ``outputs`` (T, *preprocessed, normalised units) on the raw grid, in the target's original
    units (float32 (*raw spatial) each).

    Units are restored on the preprocessed grid (the normalisations are linear,
    so this commutes with the linear resampling); outside the crop box the
    target is 0, as the input was. Targets planned as non-negative (``scale``:
    uptake, dose, counts) are clipped at 0.
    """
    outputs = outputs.to(device) if device is not None else outputs
    restored_images = []
    for index, channel in enumerate(outputs):
        normalisation = target_normalisation[str(index)]
        scheme = get_scheme(normalisation.scheme)
        restored = torch.from_numpy(scheme.restore(channel.float().cpu().numpy(), normalisation.parameters)).to(channel.device)
        image = revert_channel(restored, properties, configuration.grid_spacing(properties.spacing), fill=0.0)
        if scheme.non_negative:
            image = image.clamp_min(0)
        restored_images.append(image.cpu().numpy())
    return restored_images


def save_probabilities(probabilities: np.ndarray, path: Path) -> None:
    """Writes ``probabilities`` to ``path`` (.npz, key ``probabilities``) atomically."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, probabilities=probabilities)

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, write)
