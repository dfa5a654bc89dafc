"""Which torch device to compute on."""

from __future__ import annotations

import torch


def pick_device(name: str | None = None) -> torch.device:
    """Returns the named device, else CUDA, else MPS, else the CPU."""
    if name:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
