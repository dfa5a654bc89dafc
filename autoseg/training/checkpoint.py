"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)`` (no pickled code runs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from autoseg.errors import AutosegError
from autoseg.io import atomic_write

FINAL_CHECKPOINT = "checkpoint_final.pt"  # the weights at the end of training
BEST_CHECKPOINT = "checkpoint_best.pt"  # the epoch with the best moving average of the validation pseudo-score
LATEST_CHECKPOINT = "checkpoint_latest.pt"  # where an unfinished run resumes (``--continue``)


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


def describe_progress(path: Path) -> str:
    """How far the run that wrote checkpoint ``path`` got, for a message ("after epoch 12")."""
    try:
        return f"{path.name} after epoch {int(load_checkpoint(path)['epoch'])}"
    except (AutosegError, KeyError, TypeError, ValueError):
        return f"{path.name}, unreadable"


@dataclass
class TransferReport:
    """What ``load_pretrained_weights`` did: tensors loaded, and those skipped with the reason."""

    loaded: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why; kept at their initialisation

    def summary(self, source: Path) -> str:
        lines = [f"pretrained weights from {source}: loaded {len(self.loaded)} of {len(self.loaded) + len(self.skipped)} tensors"]
        lines += [f"  skipped {name}: {why}" for name, why in self.skipped.items()]
        return "\n".join(lines)


def load_pretrained_weights(network: torch.nn.Module, path: Path) -> TransferReport:
    """Copies every tensor of an autoseg checkpoint (or a plain state dict) whose name and shape match.

    Tensors whose shape differs (the first convolution for another number of
    input channels, the output heads for other classes) or that the checkpoint
    lacks keep their initialisation and are listed in the report. A checkpoint
    sharing no tensor with the network is refused: it is for another network.
    """
    state = load_checkpoint(path)
    weights = state.get("network", state)
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise AutosegError(f"{path} holds no network weights (expected an autoseg checkpoint or a state dict of tensors).")
    own = network.state_dict()
    report, matched = TransferReport(), {}
    for name, tensor in own.items():
        if name not in weights:
            report.skipped[name] = "not in the checkpoint"
        elif weights[name].shape != tensor.shape:
            report.skipped[name] = f"shape {tuple(weights[name].shape)} in the checkpoint, {tuple(tensor.shape)} here"
        else:
            matched[name] = weights[name]
            report.loaded.append(name)
    if not matched:
        raise AutosegError(
            f"{path} shares no tensor (same name and shape) with this network; was it trained with another architecture? "
            "Plan this dataset with the pretrained one's network (autoseg plan -d THIS --plans_from THAT --overwrite) so the "
            "networks agree."
        )
    network.load_state_dict(matched, strict=False)
    return report
