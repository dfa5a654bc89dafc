"""Which torch device to compute on, and in which precision."""

from __future__ import annotations

import torch

from autoseg.errors import AutosegError

# Mixed precision per device type: the dtype autocast computes in, or none (float32 throughout).
# CUDA runs float16 with a gradient scaler; CPU and MPS stay in float32 (bfloat16 is faster only
# on CPUs with AVX-512 BF16 or AMX). The tests set {"cpu": torch.bfloat16} to run the
# mixed-precision path of every task on a machine without a GPU.
MIXED_PRECISION: dict[str, torch.dtype] = {"cuda": torch.float16}


def pick_device(name: str | None = None) -> torch.device:
    """Returns the named device, else CUDA, else MPS, else the CPU; AutosegError for a name torch does not know or a
    device this machine does not have (before anything is computed or written)."""
    if name:
        return _available(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


_CUDA_HINT = ", or install a CUDA build of torch"


def _available(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise AutosegError(f"--device {name}: not a device name; use cpu, cuda, cuda:N or mps.") from None
    if device.type == "cpu":
        return device
    backend = getattr(torch, device.type, None) if device.type != "mps" else getattr(torch.backends, "mps", None)
    if backend is None or not backend.is_available():
        raise AutosegError(
            f"--device {name}: this machine has no {device.type.upper()} device that torch {torch.__version__} can use; use --device "
            f"cpu (or leave --device out to take the best available){_CUDA_HINT if device.type == 'cuda' else ''}."
        )
    count = backend.device_count() if hasattr(backend, "device_count") else 1
    if device.index is not None and device.index >= count:
        raise AutosegError(
            f"--device {name}: this machine has {count} {device.type.upper()} device(s), {device.type}:0 to {device.type}:{count - 1}."
        )
    return device


def memory_total_bytes(device: torch.device) -> int | None:
    """The memory ``device`` has: a GPU's own, or for the CPU and MPS (which shares it) the machine's RAM; None where
    the system does not say (no ``sysconf``: Windows)."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def autocast(device: torch.device) -> torch.autocast:
    """The autocast context for ``device``: its mixed precision, or disabled."""
    dtype = MIXED_PRECISION.get(device.type)
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def needs_gradient_scaling(device: torch.device) -> bool:
    """Whether training on ``device`` scales the loss: float16's range is too narrow for small gradients."""
    return MIXED_PRECISION.get(device.type) == torch.float16
