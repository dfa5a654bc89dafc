"""Network topology from spacing and patch size: a pure function, no I/O.

Rules (docs/planning.md):

* Stage 0 does not downsample. Each further stage halves every axis whose
  feature map still has at least ``2 * min_edge`` voxels and whose current
  spacing is at most twice the finest current spacing, so for anisotropic
  data the fine axes are pooled first until the coarse axis catches up.
* Kernels are 3 along an axis whose spacing is at most twice the finest, else
  1 (no convolution across thick slices until pooling has evened them out).
* Features start at ``base_features`` and double per stage up to ``max_features``.
* The patch is rounded up to a multiple of the total stride per axis.
"""

from __future__ import annotations

import math

from autoseg.networks import Architecture

MIN_EDGE = 4


def _kernel(spacing: list[float]) -> list[int]:
    finest = min(spacing)
    return [3 if s <= 2 * finest else 1 for s in spacing]


def plan_topology(
    spacing: list[float],
    patch_size: list[int],
    *,
    max_stages: int,
    base_features: int = 32,
    max_features: int = 320,
    min_edge: int = MIN_EDGE,
) -> tuple[Architecture, list[int]]:
    """Returns (architecture, patch size rounded up to the architecture's total stride)."""
    current_spacing = [float(s) for s in spacing]
    current_size = [float(p) for p in patch_size]
    kernels = [_kernel(current_spacing)]
    strides = [[1] * len(spacing)]
    while len(strides) < max_stages:
        finest = min(current_spacing)
        stride = [2 if size >= 2 * min_edge and s <= 2 * finest else 1 for size, s in zip(current_size, current_spacing)]
        if stride == [1] * len(spacing):
            break
        current_spacing = [s * st for s, st in zip(current_spacing, stride)]
        current_size = [size / st for size, st in zip(current_size, stride)]
        kernels.append(_kernel(current_spacing))
        strides.append(stride)
    features = [min(base_features * 2**stage, max_features) for stage in range(len(strides))]
    architecture = Architecture(features, kernels, strides)
    divisor = architecture.total_stride()
    patch = [int(math.ceil(p / d) * d) for p, d in zip(patch_size, divisor)]
    return architecture, patch
