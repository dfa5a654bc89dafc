"""Sliding-window prediction over a whole image with Gaussian-weighted tiles and mirroring.

The image is covered by patch-sized tiles that overlap by ``1 - step_size``
of a patch; each tile's output is weighted by a Gaussian centred on the tile
(networks are least reliable at patch borders) and the weighted outputs are
averaged. With mirror axes, each tile is also predicted flipped along every
combination of those axes and flipped back, and all are averaged.

Shapes: image ``(C, *spatial)``; result ``(K, *spatial)`` logits (or linear
outputs), averaged before any softmax. Images smaller than the patch are
zero-padded for prediction and cropped back.
"""

from __future__ import annotations

import itertools
import math
import sys

import numpy as np
import torch
from torch.nn import functional

from autoseg.device import autocast
from autoseg.errors import AutosegError


def gaussian_importance(patch_size: list[int], sigma_scale: float = 1 / 8) -> torch.Tensor:
    """Returns a patch-sized Gaussian map (max 1 at the centre, never 0): sigma = patch * sigma_scale per axis."""
    axes = []
    for size in patch_size:
        coordinates = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
        sigma = max(size * sigma_scale, 1e-3)
        axes.append(torch.exp(-0.5 * (coordinates / sigma) ** 2))
    weights = axes[0]
    for axis in axes[1:]:
        weights = weights[..., None] * axis
    weights = weights / weights.max()
    return weights.clamp_min(weights[weights > 0].min().item())


def nnunet_importance(patch_size: list[int], sigma_scale: float = 1 / 8) -> torch.Tensor:
    """nnU-Net v2's tile weights, for the models autoseg imports from it: a unit impulse at index ``size // 2`` blurred
    by scipy's Gaussian filter (sigma = patch * sigma_scale, cut at 4 sigma, zero beyond the patch), scaled to a
    maximum of 1, zeros raised to the smallest positive weight."""
    from scipy.ndimage import gaussian_filter

    impulse = np.zeros(patch_size)
    impulse[tuple(size // 2 for size in patch_size)] = 1
    weights = gaussian_filter(impulse, [size * sigma_scale for size in patch_size], 0, mode="constant", cval=0)
    weights /= weights.max()
    weights[weights == 0] = weights[weights > 0].min()
    return torch.from_numpy(weights.astype(np.float32))


def tile_starts(image_size: int, patch_size: int, step_size: float) -> list[int]:
    """Returns evenly spaced tile starts from 0 to ``image_size - patch_size``, at most ``patch * step`` apart."""
    if image_size <= patch_size:
        return [0]
    steps = math.ceil((image_size - patch_size) / (patch_size * step_size)) + 1
    return [int(round(i * (image_size - patch_size) / (steps - 1))) for i in range(steps)]


def mirror_combinations(mirror_axes: list[int]) -> list[tuple[int, ...]]:
    """Every subset of the mirror axes (the empty one first): 2^n flips."""
    return [combo for r in range(len(mirror_axes) + 1) for combo in itertools.combinations(mirror_axes, r)]


@torch.no_grad()
def sliding_window_predict(
    network: torch.nn.Module,
    image: torch.Tensor,
    patch_size: list[int],
    *,
    out_channels: int,
    step_size: float = 0.5,
    mirror_axes: list[int] | tuple[int, ...] = (),
    tile_batch_size: int = 1,
    device: torch.device | str | None = None,
    stacked: bool = False,
    accumulate: str = "auto",
    nnunet_weights: bool = False,
) -> torch.Tensor:
    """Returns the network's averaged output for ``image`` (C, *spatial) as (K, *spatial) float32 on the CPU.

    ``network`` may be a list of networks (the folds of a model): each tile's
    output is then their mean, gathered in one accumulator.
    With ``stacked``, ``image`` is (C, S, *spatial): S independent images of
    one shape (the slices of a volume, for a 2D network) whose tiles are
    batched together, so many small images cost a few large network calls.
    ``accumulate``: where the whole-image output is summed. ``device`` is
    fastest; ``cpu`` keeps only the tiles on the device, for images whose
    output does not fit there; ``auto`` chooses the device while the output
    and its weights take at most half of the device's free memory. A device
    out-of-memory error while accumulating on the device retries the image
    with the output on the CPU, with a one-line notice on stderr.
    ``nnunet_weights``: weight tiles as nnU-Net v2 does (``nnunet_importance``).
    """
    if accumulate not in ("auto", "device", "cpu"):
        raise ValueError(f"accumulate must be auto, device or cpu, got {accumulate!r}")
    networks = list(network) if isinstance(network, (list, tuple)) else [network]
    device = torch.device(device) if device is not None else next(networks[0].parameters()).device
    image = image if stacked else image[:, None]
    options = dict(out_channels=out_channels, step_size=step_size, mirror_axes=mirror_axes, tile_batch_size=tile_batch_size, device=device)
    options["weights"] = (nnunet_importance if nnunet_weights else gaussian_importance)(patch_size)
    mode = accumulate if accumulate != "auto" else _accumulation_for(image, patch_size, out_channels, device)
    shape = list(image.shape[2:])
    output = None
    if mode == "device":
        try:
            output = _sliding_window(networks, image, patch_size, **options, on_device=True)
        except torch.OutOfMemoryError:
            notice = f"notice: {device} ran out of memory for the output of a {shape} image; predicting it again with the output on the CPU"
            print(f"{notice} (slower)", file=sys.stderr)
            if device.type == "cuda":
                torch.cuda.empty_cache()
    if output is None:
        try:
            output = _sliding_window(networks, image, patch_size, **options, on_device=False)
        except torch.OutOfMemoryError:
            raise AutosegError(
                f"out of memory on {device} predicting an image of {shape} even with its output on the CPU: the tiles "
                f"({patch_size}, {tile_batch_size} at a time) do not fit. Free the device, or predict on the CPU (--device cpu)."
            ) from None
    return output if stacked else output[:, 0]


def _accumulation_for(image: torch.Tensor, patch_size: list[int], out_channels: int, device: torch.device) -> str:
    """``device`` while the padded output and its weights take at most half the device's free memory, else ``cpu``."""
    if device.type != "cuda":
        return "device"
    padded = [max(s, p) for s, p in zip(image.shape[2:], patch_size)]
    needed = 4 * (out_channels + 1) * image.shape[1] * math.prod(padded)
    free, _ = torch.cuda.mem_get_info(device)
    return "device" if needed <= free / 2 else "cpu"


def accumulators(shape: tuple[int, ...], weight_shape: tuple[int, ...], place: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole-image output sum and weight sum, zeroed, on ``place``."""
    return torch.zeros(shape, dtype=torch.float32, device=place), torch.zeros(weight_shape, dtype=torch.float32, device=place)


def _sliding_window(
    networks, image, patch_size, *, out_channels, step_size, mirror_axes, tile_batch_size, device, weights, on_device: bool
):
    """The sliding window over a stacked image (C, S, *spatial): (K, S, *spatial) on the CPU."""
    place = device if on_device else torch.device("cpu")
    spatial = list(image.shape[2:])
    padded_size = [max(s, p) for s, p in zip(spatial, patch_size)]
    padding = []
    for s, p in reversed(list(zip(spatial, padded_size))):
        padding += [(p - s) // 2, p - s - (p - s) // 2]
    padded = functional.pad(image.float(), padding) if any(padding) else image.float()
    starts = [tile_starts(size, patch, step_size) for size, patch in zip(padded_size, patch_size)]
    weights = weights.to(device)
    weights_at_place = weights.to(place)
    output, weight_sum = accumulators((out_channels, image.shape[1], *padded_size), (image.shape[1], *padded_size), place)
    flips = mirror_combinations(list(mirror_axes))
    tiles = [
        (index, *(slice(start, start + patch) for start, patch in zip(corner, patch_size)))
        for index in range(image.shape[1])
        for corner in itertools.product(*starts)
    ]
    for first in range(0, len(tiles), tile_batch_size):
        chunk = tiles[first : first + tile_batch_size]
        batch = torch.stack([padded[(slice(None), *tile)] for tile in chunk]).to(device)
        prediction = torch.zeros((len(chunk), out_channels, *patch_size), dtype=torch.float32, device=device)
        for member, flip in itertools.product(networks, flips):
            dims = [axis + 2 for axis in flip]
            with autocast(device):
                result = member(torch.flip(batch, dims) if dims else batch)
            result = result[0] if isinstance(result, (list, tuple)) else result
            prediction += torch.flip(result.float(), dims) if dims else result.float()
        prediction /= len(flips) * len(networks)
        for tile, tile_prediction in zip(chunk, prediction):
            output[(slice(None), *tile)] += (tile_prediction * weights).to(place)
            weight_sum[tile] += weights_at_place
    output /= weight_sum
    crop = tuple(
        slice(padding[2 * (len(spatial) - 1 - axis)], padding[2 * (len(spatial) - 1 - axis)] + size) for axis, size in enumerate(spatial)
    )
    return output[(slice(None), slice(None), *crop)].cpu()


def predict_slices(network, image: torch.Tensor, slice_axis: int, patch_size: list[int], out_channels: int, **options) -> torch.Tensor:
    """Returns a 2D network's output for a 3D ``image`` (C, Z, Y, X), slice by slice along ``slice_axis``
    (the slices' tiles batched together)."""
    slices = image.movedim(slice_axis + 1, 1)
    return sliding_window_predict(network, slices, patch_size, out_channels=out_channels, stacked=True, **options).movedim(
        1, slice_axis + 1
    )


def predict_configuration(network, image: torch.Tensor, configuration, out_channels: int, **options) -> torch.Tensor:
    """Returns ``network``'s output for a preprocessed ``image`` as ``configuration`` plans it: slice by
    slice for 2D networks on 3D data, else one sliding window over the whole image. Tiles go through
    the network in batches of the planned training batch size (inference needs less memory than training)."""
    options.setdefault("tile_batch_size", configuration.batch_size)
    options.setdefault("nnunet_weights", configuration.nnunet_inference)
    if configuration.slice_axis is None:
        return sliding_window_predict(network, image, configuration.patch_size, out_channels=out_channels, **options)
    return predict_slices(network, image, configuration.slice_axis, configuration.patch_size, out_channels, **options)
