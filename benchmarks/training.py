"""Training speed on a stand-in: loader rates, seconds per iteration for both augmentation paths, nnU-Net v2 alongside.

    python benchmarks/training.py [--dataset brats] [--zoom 1] [--configuration 3d_fullres]
        [--gpu_memory_gb 8] [--epochs 3] [--iterations 20] [--device cuda]
        [--paths cpu device] [--nnunet /path/to/venv/bin]

Generates the stand-in, plans it for ``--gpu_memory_gb`` and preprocesses it,
then prints:

- the plan;
- loader rates: batches per second of the CPU workers with augmentation
  (the ``cpu`` path), of the workers only cutting patches, and of the batched
  device augmenter alone (the ``device`` path; timed on ``--device``);
- per augmentation path, fold 0 trained for ``--epochs`` x ``--iterations``:
  seconds per training iteration and per epoch (training plus 5 validation
  iterations; the first epoch includes start-up and is listed apart) and, on
  CUDA, each epoch's peak memory next to the memory the planner promised;
- with ``--nnunet`` (the bin folder of a venv holding nnunetv2 2.8.1): the
  same dataset planned and preprocessed by nnU-Net, its plan overwritten with
  autoseg's (spacing, patch, batch, network), then trained with a trainer
  that only shortens the schedule to the same epochs and iterations (written
  into nnU-Net's top ``nnUNetTrainer/`` folder); its epoch times from its log.
  Both use the same number of augmentation workers.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from autoseg.data.device_augmentation import DeviceAugmenter  # noqa: E402
from autoseg.data.loader import BatchRecipe, BatchStream, default_num_workers  # noqa: E402
from autoseg.dataset import RawDataset  # noqa: E402
from autoseg.plan_and_preprocess import plan_and_preprocess  # noqa: E402
from autoseg.preprocessing.storage import finished_cases  # noqa: E402
from autoseg.training import TrainingSettings, pick_device, train_fold  # noqa: E402
from autoseg.training.budget import NNUNET  # noqa: E402
from autoseg.training.checkpoint import load_checkpoint  # noqa: E402
from benchmarks.nnunet import nnunet_env, plan_like_autoseg, run_tool  # noqa: E402
from dataset_conversion.synthetic import generate_stand_in  # noqa: E402

NNUNET_TRAINER = '''
import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class nnUNetTrainer_autosegBenchmark(nnUNetTrainer):
    """nnU-Net's trainer with a shorter schedule, written by autoseg's benchmarks/training.py."""

    def __init__(self, plans, configuration, fold, dataset_json, device=torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = {epochs}
        self.num_iterations_per_epoch = {iterations}
        self.num_val_iterations_per_epoch = 5
'''


def loader_rate(recipe: BatchRecipe, workers: int, count: int = 30) -> float:
    """Batches per second the worker processes deliver (after start-up)."""
    with BatchStream(recipe, 0, 10**9, num_workers=workers) as stream:
        next(stream)
        began = time.perf_counter()
        for _ in range(count):
            next(stream)
        return count / (time.perf_counter() - began)


def device_augmenter_rate(recipe: BatchRecipe, augmenter: DeviceAugmenter, device: torch.device, count: int = 30) -> float:
    """Batches per second the batched augmenter alone processes on ``device``."""
    with BatchStream(recipe, 0, count, num_workers=0) as stream:
        batches = [(torch.from_numpy(b["data"]).to(device), torch.from_numpy(b["target"]).to(device)) for b in stream]
    augmenter(*batches[0], torch.Generator().manual_seed(0))  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    began = time.perf_counter()
    for index, (data, target) in enumerate(batches):
        augmenter(data, target, torch.Generator().manual_seed(index))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return count / (time.perf_counter() - began)


def report_epochs(name: str, epochs: list[tuple[float, float | None]], iterations: int, promised_gb: float) -> None:
    """``epochs``: (epoch seconds, training seconds or None, peak GB or None) per epoch."""
    for index, (seconds, train_seconds, peak) in enumerate(epochs):
        training = f"{train_seconds / iterations:.3f} s per training iteration, " if train_seconds is not None else ""
        memory = f", peak memory {peak:.2f} GB (promised {promised_gb:.2f})" if peak is not None else ""
        start = " (includes start-up)" if index == 0 else ""
        print(f"  {name} epoch {index}: {training}{seconds:.2f} s per epoch{start}{memory}")
    steady = [seconds for seconds, _, _ in epochs[1:]]
    if steady:
        print(f"  {name}: {np.mean(steady) / iterations:.3f} s per iteration over epochs 1-{len(epochs) - 1}, validation included")


def run_nnunet(bin_dir: Path, raw: Path, dataset_name: str, work: Path, plan: dict, configuration: str, args, workers: int) -> None:
    env = nnunet_env(raw, work, workers)
    plan_like_autoseg(bin_dir, env, dataset_name, plan, configuration)
    run = lambda *command: run_tool(bin_dir, env, *command)  # noqa: E731
    run("nnUNetv2_preprocess", "-d", dataset_name[7:10], "-c", configuration, "-np", "2")
    site = subprocess.run(
        [str(bin_dir / "python"), "-c", "import nnunetv2, os; print(os.path.dirname(nnunetv2.__file__))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    trainer_file = Path(site) / "training" / "nnUNetTrainer" / "nnUNetTrainer_autosegBenchmark.py"
    trainer_file.write_text(NNUNET_TRAINER.format(epochs=args.epochs, iterations=args.iterations))
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    run("nnUNetv2_train", dataset_name[7:10], configuration, "0", "-tr", "nnUNetTrainer_autosegBenchmark", "-device", device)
    log = next((work / "nnunet_results").rglob("training_log_*.txt")).read_text()
    seconds = [float(value) for value in re.findall(r"Epoch time: ([0-9.]+) s", log)]
    report_epochs("nnU-Net v2.8.1", [(s, None, None) for s in seconds], args.iterations, plan["estimated_memory_gb"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="brats")
    parser.add_argument("--zoom", type=float, default=1.0)
    parser.add_argument("--cases", type=int, default=10)
    parser.add_argument("--configuration", default="3d_fullres")
    parser.add_argument("--gpu_memory_gb", type=float, default=8.0)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--device", default=None)
    parser.add_argument("--num_workers", type=int, default=None)
    parser.add_argument("--paths", nargs="+", default=["cpu", "device"], choices=["cpu", "device"], help="augmentation paths to train with")
    parser.add_argument("--nnunet", type=Path, default=None, help="bin folder of a venv with nnunetv2")
    args = parser.parse_args()
    device = pick_device(args.device)
    workers = default_num_workers() if args.num_workers is None else args.num_workers
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        dataset = RawDataset(generate_stand_in(args.dataset, work / "raw", num_cases=args.cases, num_test=0, zoom=args.zoom))
        preprocessed = work / "preprocessed" / dataset.name
        plans = plan_and_preprocess(dataset, preprocessed, configurations=[args.configuration], gpu_memory_gb=args.gpu_memory_gb)
        config = plans.configuration(args.configuration)
        print(f"{dataset.name} {args.configuration} on {device}, {workers} augmentation workers, {torch.get_num_threads()} torch threads")
        print(
            f"plan: spacing {config.spacing}, patch {config.patch_size}, batch {config.batch_size}, "
            f"features {config.architecture.features_per_stage}, promised memory {config.estimated_memory_gb:.2f} GB"
        )
        folder = preprocessed / config.data_identifier
        recipe = BatchRecipe(
            str(folder),
            tuple(finished_cases(folder)),
            tuple(config.patch_size),
            config.batch_size,
            tuple(config.mirror_axes),
            config.slice_axis,
            True,
            True,
            0,
        )
        print(f"loader, cpu path (workers augment): {loader_rate(recipe, workers):.1f} batches/s")
        print(f"loader, device path (workers only cut patches): {loader_rate(replace(recipe, augment=False), workers):.1f} batches/s")
        augmenter = DeviceAugmenter(config.patch_size, config.mirror_axes)
        print(
            f"device augmenter alone on {device}: {device_augmenter_rate(replace(recipe, augment=False), augmenter, device):.1f} batches/s"
        )
        for path in args.paths:
            settings = TrainingSettings(
                **NNUNET,  # the optimiser of the nnU-Net run it is timed beside, at any budget
                epochs=args.epochs,
                iterations_per_epoch=args.iterations,
                validation_iterations=5,
                checkpoint_every=args.epochs,
                num_workers=workers,
                augmentation=path,
            )
            output = train_fold(
                preprocessed,
                work / "results",
                args.configuration,
                fold="0",
                device=str(device),
                settings=settings,
                trainer=f"benchmark_{path}",
            )
            log = load_checkpoint(output / "checkpoint_final.pt")["log"]
            report_epochs(
                f"autoseg ({path} augmentation)",
                [(r["seconds"], r["train_seconds"], r["peak_memory_gb"]) for r in log],
                args.iterations,
                config.estimated_memory_gb,
            )
        if args.nnunet:
            run_nnunet(
                args.nnunet,
                work / "raw",
                dataset.name,
                work,
                plans.to_json()["configurations"][args.configuration],
                args.configuration,
                args,
                workers,
            )


if __name__ == "__main__":
    main()
