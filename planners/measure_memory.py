"""Measures the peak memory of one real U-Net training step, the ground truth for planners.memory.

Run as ``python -m planners.measure_memory '<json>'`` with keys architecture,
patch_size, in_channels, out_channels, batch_size and device; prints a JSON
line with ``peak_bytes``: on CUDA ``torch.cuda.max_memory_allocated`` during
the step (mixed precision); on CPU the rise of the process's peak resident
memory during the step (the kernel's peak mark is reset just before it),
plus the parameters' own bytes, in a fresh process. CPU steps run in float32.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys


def _current_rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def _reset_peak_rss() -> bool:
    """Resets the kernel's peak-RSS mark (VmHWM) to the current RSS; False where Linux does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _peak_rss_bytes(reset: bool) -> int:
    if reset:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _run(config: dict) -> dict:
    import torch

    from autoseg.networks import Architecture, UNet

    torch.manual_seed(0)
    device = torch.device(config["device"])
    architecture = Architecture.from_json(config["architecture"])
    network = UNet(config["in_channels"], config["out_channels"], architecture).to(device)
    optimiser = torch.optim.SGD(network.parameters(), lr=1e-3, momentum=0.99, nesterov=True)
    batch = [config["batch_size"], config["in_channels"], *config["patch_size"]]
    inputs = torch.randn(batch, device=device)
    target = torch.randint(0, config["out_channels"], [batch[0], *batch[2:]], device=device)
    parameter_bytes = sum(p.numel() * p.element_size() for p in network.parameters())
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

    if use_amp:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return {"peak_bytes": torch.cuda.max_memory_allocated() - start + parameter_bytes}
    # Without the reset, a transient before the step (importing torch) could hide the step's own peak.
    reset = _reset_peak_rss()
    before = _current_rss_bytes()
    step()
    return {"peak_bytes": _peak_rss_bytes(reset) - before + parameter_bytes}


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
    print(json.dumps(_run(json.loads(sys.argv[1]))))
