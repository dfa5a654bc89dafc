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

import torch
from torch.nn import functional

from autoseg.device import autocast


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
    out_channels: int,
    step_size: float = 0.5,
    mirror_axes: list[int] | tuple[int, ...] = (),
    tile_batch_size: int = 1,
    device: torch.device | str | None = None,
    stacked: bool = False,
) -> torch.Tensor:
    """Returns the network's averaged output for ``image`` (C, *spatial) as (K, *spatial) float32 on the CPU.

    ``network`` may be a list of networks (the folds of a model): each tile's
    output is then their mean, gathered in one accumulator.
    With ``stacked``, ``image`` is (C, S, *spatial): S independent images of
    one shape (the slices of a volume, for a 2D network) whose tiles are
    batched together, so many small images cost a few large network calls.
    """
    networks = list(network) if isinstance(network, (list, tuple)) else [network]
    device = torch.device(device) if device is not None else next(networks[0].parameters()).device
    image = image if stacked else image[:, None]
    spatial = list(image.shape[2:])
    padded_size = [max(s, p) for s, p in zip(spatial, patch_size)]
    padding = []
    for s, p in reversed(list(zip(spatial, padded_size))):
        padding += [(p - s) // 2, p - s - (p - s) // 2]
    padded = functional.pad(image.float(), padding) if any(padding) else image.float()
    starts = [tile_starts(size, patch, step_size) for size, patch in zip(padded_size, patch_size)]
    weights = gaussian_importance(patch_size).to(device)
    output = torch.zeros((out_channels, image.shape[1], *padded_size), dtype=torch.float32, device=device)
    weight_sum = torch.zeros((image.shape[1], *padded_size), dtype=torch.float32, device=device)
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
            output[(slice(None), *tile)] += tile_prediction * weights
            weight_sum[tile] += weights
    output /= weight_sum
    crop = tuple(
        slice(padding[2 * (len(spatial) - 1 - axis)], padding[2 * (len(spatial) - 1 - axis)] + size) for axis, size in enumerate(spatial)
    )
    output = output[(slice(None), slice(None), *crop)].cpu()
    return output if stacked else output[:, 0]


def predict_slices(network, image: torch.Tensor, slice_axis: int, patch_size: list[int], out_channels: int, **options) -> torch.Tensor:
    """Returns a 2D network's output for a 3D ``image`` (C, Z, Y, X), slice by slice along ``slice_axis``
    (the slices' tiles batched together)."""
    slices = image.movedim(slice_axis + 1, 1)
    return sliding_window_predict(network, slices, patch_size, out_channels, stacked=True, **options).movedim(1, slice_axis + 1)


def predict_configuration(network, image: torch.Tensor, configuration, out_channels: int, **options) -> torch.Tensor:
    """Returns ``network``'s output for a preprocessed ``image`` as ``configuration`` plans it: slice by
    slice for 2D networks on 3D data, else one sliding window over the whole image. Tiles go through
    the network in batches of the planned training batch size (inference needs less memory than training)."""
    options.setdefault("tile_batch_size", configuration.batch_size)
    if configuration.slice_axis is None:
        return sliding_window_predict(network, image, configuration.patch_size, out_channels, **options)
    return predict_slices(network, image, configuration.slice_axis, configuration.patch_size, out_channels, **options)
