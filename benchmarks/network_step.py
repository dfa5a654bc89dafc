"""One training step of autoseg's U-Net against nnU-Net's PlainConvUNet of the same architecture.

    python benchmarks/network_step.py [--patch 32 48 40] [--batch 2] [--nnunet /path/to/venv/bin]

Both networks are built with the same stages, features, kernels and strides
(BraTS-like 3d_fullres at a 0.4 GB plan by default) and timed on the same
input: forward with deep supervision, cross-entropy on every output, backward,
SGD step; the median of 7 steps after 2 warm-up steps. The same snippet runs
in this interpreter (autoseg) and, with ``--nnunet``, in nnU-Net's venv, so
the only differences are the network's code and what autoseg's command does
around it: its allocator policy (``autoseg/allocator.py``) and, for the
forward pass, the layout it predicts in (``prepare_for_inference``). Also prints the time of the
forward pass alone, its arithmetic (multiply-adds counted by torch's
FlopCounterMode, 2 FLOP each) and rate, the number of parameters, and the
rate of a large float32 matrix multiply on this machine: the practical
ceiling of any convolution code, and so of any prediction on this CPU.

    python benchmarks/network_step.py --patch 56 96 64 --batch 2 --features 32 64 128 256 320 \
        --strides 1,1,1 2,2,2 2,2,2 2,2,2 1,2,2       # the prediction benchmark's zoom-2 network
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

SNIPPET = r"""
import json, statistics, sys, time, torch
settings = json.loads(sys.argv[1])
torch.manual_seed(0)
features, strides, patch, batch = settings["features"], settings["strides"], settings["patch"], settings["batch"]
kernels = [[3] * len(patch)] * len(features)
if settings["tool"] == "autoseg":
    sys.path.insert(0, settings["root"])
    from autoseg.allocator import keep_freed_memory
    keep_freed_memory()  # as the autoseg command does
    from autoseg.networks import UNet, initialise_weights, prepare_for_inference
    from autoseg.networks.unet import Architecture
    network = UNet(4, 4, Architecture(features_per_stage=features, kernel_sizes=kernels, strides=strides, n_conv_per_stage=2, n_conv_per_stage_decoder=2, deep_supervision=True, negative_slope=0.01))
    network.apply(initialise_weights)
else:
    from dynamic_network_architectures.architectures.unet import PlainConvUNet
    network = PlainConvUNet(4, len(features), features, torch.nn.Conv3d, kernels, strides, [2] * len(features), 4, [2] * (len(features) - 1), conv_bias=True,
                            norm_op=torch.nn.InstanceNorm3d, norm_op_kwargs={"eps": 1e-5, "affine": True}, nonlin=torch.nn.LeakyReLU, nonlin_kwargs={"inplace": True}, deep_supervision=True)
network.train()
optimiser = torch.optim.SGD(network.parameters(), lr=1e-2, momentum=0.99, nesterov=True)
x = torch.randn(batch, 4, *patch)
target = torch.randint(0, 4, (batch, *patch))
def step():
    outputs = network(x)
    loss = sum(torch.nn.functional.cross_entropy(o, torch.nn.functional.interpolate(target[:, None].float(), size=o.shape[2:], mode="nearest")[:, 0].long()) for o in outputs)
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
def timed(function, repeats=7):
    for _ in range(2):
        function()
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds)
training = timed(step)
network.eval()
if settings["tool"] == "autoseg":
    prepare_for_inference(network, torch.device("cpu"))  # as autoseg predicts: channels-last on the CPU
with torch.no_grad():
    forward = timed(lambda: network(x))
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        network(x)
    square = torch.randn(2048, 2048)
    matmul = timed(lambda: square @ square)
print(json.dumps({"step": training, "forward": forward, "forward_flop": counter.get_total_flops(), "matmul_flops_per_s": 2 * 2048**3 / matmul,
                  "parameters": sum(p.numel() for p in network.parameters()), "threads": torch.get_num_threads()}))
"""


def run(python: str, settings: dict) -> dict:
    result = subprocess.run([python, "-c", SNIPPET, json.dumps(settings)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patch", type=int, nargs=3, default=[32, 48, 40])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--features", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--strides", nargs="+", default=None, help="per stage, comma-separated per axis (default: 1,1,1 then 2,2,2)")
    parser.add_argument("--nnunet", type=Path, default=None, help="bin folder of a venv with nnunetv2")
    args = parser.parse_args()
    strides = (
        [[int(v) for v in stage.split(",")] for stage in args.strides]
        if args.strides
        else [[1, 1, 1]] + [[2, 2, 2]] * (len(args.features) - 1)
    )
    if len(strides) != len(args.features):
        parser.error(f"--strides needs one entry per stage ({len(args.features)}), got {len(strides)}")
    settings = {
        "features": args.features,
        "strides": strides,
        "patch": args.patch,
        "batch": args.batch,
        "root": str(Path(__file__).resolve().parents[1]),
    }
    print(f"patch {args.patch}, batch {args.batch}, features {args.features}, strides {strides}")
    tools = [("autoseg", sys.executable)] + ([("nnU-Net", str(args.nnunet / "python"))] if args.nnunet else [])
    for name, python in tools:
        result = run(python, {**settings, "tool": "autoseg" if name == "autoseg" else "nnunet"})
        rate = result["forward_flop"] / result["forward"] / 1e9
        print(
            f"  {name:<8} training step {result['step']:.3f} s, forward {result['forward']:.3f} s "
            f"({result['forward_flop'] / 1e9:.0f} GFLOP, {rate:.0f} GFLOP/s), "
            f"{result['parameters']:,} parameters, {result['threads']} threads; float32 matrix multiply here: "
            f"{result['matmul_flops_per_s'] / 1e9:.0f} GFLOP/s"
        )


if __name__ == "__main__":
    main()
