"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)`` (no pickled code runs)."""

from __future__ import annotations

from pathlib import Path

import torch

from autoseg.errors import AutosegError
from autoseg.io import atomic_write


def save_checkpoint(path: Path, state: dict) -> None:
    """Writes ``state`` (tensors, numbers, strings, lists and dicts of them) to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: Path, device: str | torch.device = "cpu") -> dict:
    """Reads a checkpoint safely; raises AutosegError naming the file if it is missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise AutosegError(f"{path} not found.")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        raise AutosegError(f"{path} is not a readable autoseg checkpoint ({type(error).__name__}: {error}).") from error
