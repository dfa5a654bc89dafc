"""nnU-Net's checkpoints read without running code.

An nnU-Net ``.pth`` file is a pickle: loading it the ordinary way
(``torch.load(weights_only=False)``, as nnU-Net does) runs whatever callables
it names, so a file from a stranger can run any code. Here the pickle's
globals are listed first (a scan of its opcodes, nothing executed); a file
that names anything beyond tensors and the plain values nnU-Net's
checkpoints hold (NumPy scalars and arrays in the training log, a
``torch.device`` in the trainer's arguments) is refused before it is
loaded, and the load itself runs torch's restricted unpickler with only
those allowed.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

from autoseg.errors import AutosegError


def _numpy_globals() -> list:
    """The NumPy callables a checkpoint may name, under the module names NumPy 1 and 2 pickle them with."""
    multiarray = (getattr(np, "_core", None) or np.core).multiarray
    allowed: list = []
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed += [(multiarray.scalar, f"{module}.scalar"), (multiarray._reconstruct, f"{module}._reconstruct")]
    allowed += [np.ndarray, np.dtype]
    allowed += [type(np.dtype(name)) for name in ("bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32", "float64")]
    return allowed


def _global_name(entry) -> str:
    if isinstance(entry, tuple):
        return entry[1]
    return f"{entry.__module__}.{entry.__qualname__}"


def read_nnunet_checkpoint(path: Path) -> dict:
    """The checkpoint dictionary of an nnU-Net ``.pth`` file (tensors on the CPU); AutosegError naming the file when
    it is missing, not a checkpoint, or names a global that could run code (then nothing of it is loaded)."""
    path = Path(path)
    if not path.is_file():
        raise AutosegError(f"{path} not found.")
    allowed = _numpy_globals()
    names = {_global_name(entry) for entry in allowed}
    try:
        unsafe = [name for name in torch.serialization.get_unsafe_globals_in_checkpoint(path) if name not in names]
    except (RuntimeError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError) as error:
        raise AutosegError(f"{path} is not a readable nnU-Net checkpoint ({type(error).__name__}: {error}).") from error
    if unsafe:
        raise AutosegError(
            f"{path} refused: loading it would call {', '.join(sorted(unsafe))}, which could run code. autoseg loads only "
            "tensors and the plain values nnU-Net's checkpoints hold; nothing of this file was loaded. If you trust the file, "
            "load it in nnU-Net's environment and save {'network_weights': ..., 'inference_allowed_mirroring_axes': ...} alone."
        )
    try:
        with torch.serialization.safe_globals(allowed):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        raise AutosegError(f"{path} is not a readable nnU-Net checkpoint ({type(error).__name__}: {error}).") from error
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("network_weights"), dict):
        raise AutosegError(f"{path} holds no 'network_weights'; is it a checkpoint written by nnU-Net v2's trainer?")
    return checkpoint
