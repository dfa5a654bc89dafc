"""Class probabilities of whole preprocessed images: the folds' and mirrorings' mean softmax."""

from __future__ import annotations

import numpy as np
import torch

from autoseg.device import autocast
from autoseg.inference.sliding_window import mirror_combinations


@torch.no_grad()
def class_probabilities(
    networks: list[torch.nn.Module], data: np.ndarray | torch.Tensor, mirror_axes: list[int], device: torch.device
) -> np.ndarray:
    """Returns (K,) for one preprocessed case ``data`` (C, *input size): the softmax averaged over
    ``networks`` (in evaluation mode) and every mirroring along ``mirror_axes``, all mirrorings in one batch."""
    image = torch.as_tensor(np.ascontiguousarray(data) if isinstance(data, np.ndarray) else data).to(device)
    flips = mirror_combinations(list(mirror_axes))
    batch = torch.stack([torch.flip(image, [axis + 1 for axis in flip]) if flip else image for flip in flips])
    total = None
    for network in networks:
        with autocast(device):
            logits = network(batch)
        probabilities = torch.softmax(logits.float(), 1).mean(0)
        total = probabilities if total is None else total + probabilities
    return (total / len(networks)).cpu().numpy()
