"""The residual-encoder U-Net (planner ``resenc_m``) against the plain U-Net (``default``) at equal CPU wall time.

    python benchmarks/resenc_vs_plain.py [--datasets spine brats] [--seconds 300] [--gpu_memory_gb 2]
        [--cases 20] [--device cpu]

Per stand-in: both planners plan it for the same memory budget and preprocess
it; each network's seconds per training iteration is measured (the fastest
8-iteration epoch of a short calibration run after its first), then fold 0 trains with the ``short`` trainer's
optimiser (Adam, 1e-3) for as many 25-iteration epochs as fit in ``--seconds``
and is scored by the whole-case validation (Dice per structure, in the raw
geometry). Prints parameters, planned patch and batch, seconds per iteration,
iterations run, wall time and Dice. The presets exist for GPUs (8-40 GB); the
GPU figures belong in the GPU suite.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autoseg.dataset import RawDataset  # noqa: E402
from autoseg.networks import network_for  # noqa: E402
from autoseg.plan_and_preprocess import plan_and_preprocess  # noqa: E402
from autoseg.plans import Plans  # noqa: E402
from autoseg.training import train_fold, trainer_settings  # noqa: E402
from autoseg.training.checkpoint import load_checkpoint  # noqa: E402
from dataset_conversion.synthetic import generate_stand_in  # noqa: E402

CONFIGURATIONS = {"spine": "2d", "brats": "3d_fullres", "isles": "3d_fullres"}
ITERATIONS_PER_EPOCH = 25


def seconds_per_iteration(preprocessed: Path, results: Path, configuration: str, plans_file: str, device: str) -> float:
    """The fastest of three 8-iteration epochs after a first one, timed by the trainer (training only, no
    validation): the first epochs still wait for the augmentation workers to fill their queue."""
    settings = replace(trainer_settings("short"), epochs=4, iterations_per_epoch=8, validation_iterations=1, num_workers=1)
    fold = train_fold(preprocessed, results, configuration, fold="0", plans_file=plans_file, settings=settings, device=device)
    log = load_checkpoint(fold / "checkpoint_final.pt")["log"]
    return min(record["train_seconds"] for record in log[1:]) / 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["spine", "brats"], choices=sorted(CONFIGURATIONS))
    parser.add_argument("--seconds", type=float, default=300.0, help="training wall time per network")
    parser.add_argument("--gpu_memory_gb", type=float, default=2.0, help="the memory budget both planners plan for")
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="resenc_vs_plain_"))
    header = f"{'dataset':<8} {'network':<12} {'params M':>8} {'patch':<16} {'batch':>5} {'s/it':>6} {'its':>5} {'wall s':>7}  Dice"
    rows = []
    for key in args.datasets:
        configuration = CONFIGURATIONS[key]
        raw = generate_stand_in(key, work / "raw", num_cases=args.cases, num_test=0, seed=0)
        dataset = RawDataset(raw)
        preprocessed = work / "preprocessed" / dataset.name
        for planner in ("default", "resenc_m"):
            plan_and_preprocess(
                dataset, preprocessed, configurations=[configuration], planner=planner, gpu_memory_gb=args.gpu_memory_gb, num_processes=2
            )
            plans_file = "plans.json" if planner == "default" else f"plans_{planner}.json"
            config = Plans.load(preprocessed / plans_file).configuration(configuration)
            architecture = config.architecture
            parameters = network_for(architecture).count_parameters(architecture, dataset.spec.num_channels, len(dataset.spec.labels))
            per_iteration = seconds_per_iteration(preprocessed, work / "calibration" / planner, configuration, plans_file, args.device)
            epochs = max(1, round(args.seconds / per_iteration / ITERATIONS_PER_EPOCH))
            settings = replace(
                trainer_settings("short"), epochs=epochs, iterations_per_epoch=ITERATIONS_PER_EPOCH, validation_iterations=5, num_workers=1
            )
            began = time.perf_counter()
            fold = train_fold(
                preprocessed, work / "results", configuration, fold="0", plans_file=plans_file, settings=settings, device=args.device
            )
            wall = time.perf_counter() - began
            summary = json.loads((fold / "validation" / "summary.json").read_text())
            dice = ", ".join(f"{name} {values['dice']:.3f}" for name, values in summary["mean"].items())
            rows.append(
                f"{key:<8} {architecture.network:<12} {parameters / 1e6:>8.2f} {str(config.patch_size):<16} {config.batch_size:>5} "
                f"{per_iteration:>6.2f} {epochs * ITERATIONS_PER_EPOCH:>5} {wall:>7.0f}  {dice}"
            )
            print(rows[-1], flush=True)
    budget = f"budget {args.gpu_memory_gb:g} GB"
    print(f"\n{args.seconds:g} s of training per network (wall time includes whole-case validation), {args.device}, {budget}")
    print(header)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
