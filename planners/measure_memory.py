"""Measures the peak memory of one real training step of a registered network, the ground truth for its memory model.

Run as ``python -m planners.measure_memory '<json>'`` with keys architecture,
patch_size, in_channels, out_channels, batch_size and device; prints a JSON
line with ``peak_bytes``, measured in a fresh process on the second step (the
first creates gradients and momentum, as the planner assumes they exist): the
peak of tensor memory allocated during the step plus the bytes of parameters,
gradients and optimiser state. On CUDA the
caching allocator counts it (``torch.cuda.max_memory_allocated``, mixed
precision); on the CPU, where no allocator keeps such a count,
``TensorMemoryTracker`` does (float32). Both count tensors only, never library
workspaces or allocator caches, so the CPU figure is the same on every machine
rather than a property of its CPU and malloc.
"""

from __future__ import annotations

import json
import subprocess
import sys
import weakref
from collections.abc import Iterable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.weak import WeakIdKeyDictionary


class TensorMemoryTracker(TorchDispatchMode):
    """Counts the bytes of tensor storages created inside the ``with`` block and their peak.

    Every operator's outputs pass through ``__torch_dispatch__`` (backward
    included); a storage is counted when first seen and uncounted when it is
    freed (a weak reference's callback). Storages that existed before the block
    are not counted unless an operator returns them (in place); pass such tensors (parameters,
    gradients, optimiser state) as ``existing``.
    """

    def __init__(self, existing: Iterable[torch.Tensor] = ()) -> None:
        super().__init__()
        self.current_bytes = 0
        self.peak_bytes = 0
        self._seen: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self._refs: set[weakref.ref] = set()
        # An in-place operator returns its input: without this, parameters, gradients and momentum
        # updated in place would be counted as new storages the first time an operator returns them.
        for tensor in existing:
            self._seen[tensor.untyped_storage()] = 0

    def _count(self, storage: torch.UntypedStorage) -> None:
        if storage in self._seen or storage.device.type == "meta":
            return
        size = storage.nbytes()
        self._seen[storage] = size

        def freed(ref: weakref.ref, size: int = size) -> None:
            self._refs.discard(ref)
            self.current_bytes -= size

        self._refs.add(weakref.ref(storage, freed))
        self.current_bytes += size
        self.peak_bytes = max(self.peak_bytes, self.current_bytes)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        outputs = func(*args, **(kwargs or {}))
        for leaf in tree_leaves(outputs):
            if isinstance(leaf, torch.Tensor):
                self._count(leaf.untyped_storage())
        return outputs


def peak_of_training_step(config: dict) -> dict:
    """The peak of one training step in this process (``measure_training_step`` runs it in a fresh one, whose
    allocator state nothing before it has touched)."""
    from autoseg.networks import Architecture, network_for

    torch.manual_seed(0)
    device = torch.device(config["device"])
    architecture = Architecture.from_json(config["architecture"])
    network = network_for(architecture).build(config["in_channels"], config["out_channels"], architecture).to(device)
    optimiser = torch.optim.SGD(network.parameters(), lr=1e-3, momentum=0.99, nesterov=True)
    batch = [config["batch_size"], config["in_channels"], *config["patch_size"]]
    inputs = torch.randn(batch, device=device)
    target = torch.randint(0, config["out_channels"], [batch[0], *batch[2:]], device=device)
    use_amp = device.type == "cuda"

    def step() -> None:
        with torch.autocast(device.type, enabled=use_amp):
            outputs = network(inputs)
            outputs = outputs if isinstance(outputs, list) else [outputs]
            loss = 0.0
            for output in outputs:
                scaled_target = target
                if output.shape[2:] != target.shape[1:]:
                    scaled_target = torch.nn.functional.interpolate(target[:, None].float(), output.shape[2:], mode="nearest")[:, 0].long()
                probabilities = torch.softmax(output.float(), 1)
                one_hot = torch.nn.functional.one_hot(scaled_target, output.shape[1]).movedim(-1, 1).float()
                dice = (2 * (probabilities * one_hot).sum() + 1) / (probabilities.sum() + one_hot.sum() + 1)
                loss = loss + torch.nn.functional.cross_entropy(output.float(), scaled_target) - dice
        loss.backward()
        optimiser.step()
        optimiser.zero_grad(set_to_none=False)

    step()  # warm-up: creates the gradients and momentum that every later step carries
    tensors = [*network.parameters(), *(p.grad for p in network.parameters())]
    tensors += [value for state in optimiser.state.values() for value in state.values() if isinstance(value, torch.Tensor)]
    state_bytes = sum(t.numel() * t.element_size() for t in tensors)
    if use_amp:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return {"peak_bytes": torch.cuda.max_memory_allocated() - start + state_bytes}
    with TensorMemoryTracker(existing=tensors) as tracker:
        step()
    return {"peak_bytes": tracker.peak_bytes + state_bytes}


def measure_training_step(config: dict, timeout_s: float = 600) -> int:
    """Returns the measured peak bytes of one training step, in a fresh process."""
    result = subprocess.run(
        [sys.executable, "-m", "planners.measure_memory", json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=True,
    )
    return int(json.loads(result.stdout.strip().splitlines()[-1])["peak_bytes"])


if __name__ == "__main__":
    print(json.dumps(peak_of_training_step(json.loads(sys.argv[1]))))
