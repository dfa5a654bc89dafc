"""Which torch device to compute on, and in which precision."""

from __future__ import annotations

import torch

# Mixed precision per device type: the dtype autocast computes in, or none (float32 throughout).
# CUDA runs float16 with a gradient scaler; CPU and MPS stay in float32 (bfloat16 is faster only
# on CPUs with AVX-512 BF16 or AMX). The tests set {"cpu": torch.bfloat16} to run the
# mixed-precision path of every task on a machine without a GPU.
MIXED_PRECISION: dict[str, torch.dtype] = {"cuda": torch.float16}


def pick_device(name: str | None = None) -> torch.device:
    """Returns the named device, else CUDA, else MPS, else the CPU."""
    if name:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast(device: torch.device) -> torch.autocast:
    """The autocast context for ``device``: its mixed precision, or disabled."""
    dtype = MIXED_PRECISION.get(device.type)
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def needs_gradient_scaling(device: torch.device) -> bool:
    """Whether training on ``device`` scales the loss: float16's range is too narrow for small gradients."""
    return MIXED_PRECISION.get(device.type) == torch.float16
