"""Prints the analytic memory model against the measured peak of real training steps.

    python benchmarks/memory_model.py [--device cpu|cuda] [--budget_gb 8] [--planners default resenc_m]

Each registered network family has its own model (autoseg.networks); each
planner named (default: the default planner and ResEnc M) is measured.
Part 1: fixed patches (2D, isotropic 3D, anisotropic 3D; a classification
encoder is not measured here) with the planner's network for them. Part 2:
configurations the planner makes for a memory budget, measured at their
planned batch size: the planner promises they fit. On CUDA the step runs with mixed precision and the peak is
torch.cuda.max_memory_allocated; on CPU it is float32 and the peak tensor
memory counted by planners.measure_memory.TensorMemoryTracker.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autoseg.dataset import DatasetSpec  # noqa: E402
from autoseg.fingerprint import CaseFingerprint, Fingerprint, IntensityStatistics  # noqa: E402
from autoseg.networks import network_for  # noqa: E402
from planners import get_planner  # noqa: E402
from planners.measure_memory import measure_training_step  # noqa: E402

TOPOLOGIES = [
    ("2d 192^2 b6", [1.0, 1.0], [192, 192], 2, 4, 6),
    ("2d 512^2 b12", [0.8, 0.8], [512, 512], 1, 3, 12),
    ("3d iso 48^3 b2", [1.0, 1.0, 1.0], [48, 48, 48], 1, 3, 2),
    ("3d iso 128^3 b2", [1.0, 1.0, 1.0], [128, 128, 128], 4, 4, 2),
    ("3d aniso 12x96x96 b2", [5.0, 0.8, 0.8], [12, 96, 96], 6, 2, 2),
    ("3d aniso 40x224x224 b2", [3.0, 0.7, 0.7], [40, 224, 224], 1, 3, 2),
]

# Dataset shapes the planner sees: (name, spacing, median shape, channels, labels)
DATASETS = [
    ("BraTS-like (4ch, 1 mm, 155x240x240)", (1.0, 1.0, 1.0), (140, 170, 140), ("T1", "T1ce", "T2", "FLAIR"), 4),
    ("liver CT (0.8 mm, 450x512x512)", (0.8, 0.8, 0.8), (450, 512, 512), ("CT",), 3),
    ("prostate MR (3.6x0.6x0.6 mm)", (3.6, 0.62, 0.62), (20, 320, 320), ("T2", "ADC"), 3),
]


def fingerprint_for(spacing, shape, channels) -> Fingerprint:
    cases = [CaseFingerprint(f"c{i}", list(spacing), list(shape), list(shape)) for i in range(40)]
    stats = IntensityStatistics(0.0, 1.0, 0.0, -1.0, 1.0, -2.0, 2.0, 100)
    return Fingerprint(
        "bench", "segmentation", {str(i): c for i, c in enumerate(channels)}, cases, {str(i): stats for i in range(len(channels))}
    )


def spec_for(channels, num_labels) -> DatasetSpec:
    labels = {"background": 0} | {f"class_{i}": i for i in range(1, num_labels)}
    return DatasetSpec.from_json(
        {"channel_names": {str(i): c for i, c in enumerate(channels)}, "labels": labels, "numTraining": 40, "file_ending": ".nii.gz"}
    )


def row(name, architecture, patch, in_channels, out_channels, batch, device) -> str:
    amp = device == "cuda"
    modelled = (
        network_for(architecture)
        .memory(architecture, patch, in_channels=in_channels, out_channels=out_channels, batch_size=batch, mixed_precision=amp)
        .total_bytes
    )
    measured = measure_training_step(
        {
            "architecture": architecture.to_json(),
            "patch_size": patch,
            "in_channels": in_channels,
            "out_channels": out_channels,
            "batch_size": batch,
            "device": device,
        }
    )
    return f"{name:<44} {str(patch):<18} {batch:>5} {modelled / 2**30:>9.2f} {measured / 2**30:>9.2f} {measured / modelled:>7.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--budget_gb", type=float, default=8.0)
    parser.add_argument("--skip_large", action="store_true", help="leave out the topologies that need many GB (for small CPU machines)")
    parser.add_argument("--planners", nargs="+", default=["default", "resenc_m"], help="planners whose networks to measure")
    args = parser.parse_args()
    header = f"{'case':<44} {'patch':<18} {'batch':>5} {'model GB':>9} {'meas. GB':>9} {'ratio':>7}"
    precision = "mixed precision" if args.device == "cuda" else "float32"
    for planner_name in args.planners:
        planner = get_planner(planner_name)
        print(f"\nplanner {planner_name} ({planner.network}), device {args.device}, {precision}")
        print(header)
        for name, spacing, patch, cin, cout, batch in TOPOLOGIES:
            if args.skip_large and ("128^3" in name or "512^2" in name or "224" in name):
                continue
            architecture, patch = planner.architecture(spacing, patch)
            print(row(name, architecture, patch, cin, cout, batch, args.device))
        print(f"\nplanned for {args.budget_gb:g} GB (mixed precision), measured at the planned batch size")
        print(header)
        for name, spacing, shape, channels, labels in DATASETS:
            plans = planner(fingerprint_for(spacing, shape, channels), spec_for(channels, labels), gpu_memory_gb=args.budget_gb)
            for config_name, config in plans.configurations.items():
                if args.device == "cpu" and args.skip_large:
                    continue
                label = f"{name} {config_name}"
                print(row(label, config.architecture, config.patch_size, len(channels), labels, config.batch_size, args.device))


if __name__ == "__main__":
    main()
