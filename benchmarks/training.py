"""Training speed and memory on a stand-in: seconds per iteration, loader rate, peak GPU memory against the plan.

    python benchmarks/training.py [--dataset brats] [--zoom 1] [--configuration 3d_fullres]
        [--gpu_memory_gb 8] [--epochs 2] [--iterations 50] [--device cuda]

Generates the stand-in, plans it for ``--gpu_memory_gb`` and preprocesses it,
measures how many batches per second the augmentation workers produce alone,
then trains fold 0 and prints the plan, seconds per training iteration (the
first epoch includes start-up and is shown apart) and, on CUDA, the peak
memory of each epoch next to the memory the planner promised.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autoseg.data.loader import BatchRecipe, BatchStream, default_num_workers  # noqa: E402
from autoseg.dataset import RawDataset  # noqa: E402
from autoseg.plan_and_preprocess import plan_and_preprocess  # noqa: E402
from autoseg.preprocessing.storage import finished_cases  # noqa: E402
from autoseg.training import TrainingSettings, train_fold  # noqa: E402
from autoseg.training.checkpoint import load_checkpoint  # noqa: E402
from dataset_conversion.synthetic import generate_stand_in  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="brats")
    parser.add_argument("--zoom", type=float, default=1.0)
    parser.add_argument("--cases", type=int, default=10)
    parser.add_argument("--configuration", default="3d_fullres")
    parser.add_argument("--gpu_memory_gb", type=float, default=8.0)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--device", default=None)
    parser.add_argument("--num_workers", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        dataset = RawDataset(generate_stand_in(args.dataset, work / "raw", num_cases=args.cases, num_test=0, zoom=args.zoom))
        preprocessed = work / "preprocessed" / dataset.name
        plans = plan_and_preprocess(dataset, preprocessed, gpu_memory_gb=args.gpu_memory_gb)
        config = plans.configuration(args.configuration)
        print(f"plan {args.configuration}: spacing {config.spacing}, patch {config.patch_size}, batch {config.batch_size}, "
              f"features {config.architecture.features_per_stage}, promised memory {config.estimated_memory_gb:.2f} GB")
        workers = default_num_workers() if args.num_workers is None else args.num_workers
        recipe = BatchRecipe(str(preprocessed / config.data_identifier), tuple(finished_cases(preprocessed / config.data_identifier)), tuple(config.patch_size), config.batch_size, tuple(config.mirror_axes), config.slice_axis, True, True, 0)
        with BatchStream(recipe, 0, 10**9, workers) as stream:
            next(stream)  # start-up
            began = time.perf_counter()
            count = 40
            for _ in range(count):
                next(stream)
            print(f"loader alone: {count / (time.perf_counter() - began):.1f} batches/s with {workers} workers")
        settings = TrainingSettings(epochs=args.epochs, iterations_per_epoch=args.iterations, validation_iterations=5, checkpoint_every=args.epochs, num_workers=args.num_workers)
        output = train_fold(preprocessed, work / "results", args.configuration, "0", device=args.device, settings=settings)
        for record in load_checkpoint(output / "checkpoint_final.pt")["log"]:
            per_iteration = record["train_seconds"] / args.iterations
            memory = f", peak memory {record['peak_memory_gb']:.2f} GB (promised {config.estimated_memory_gb:.2f})" if record["peak_memory_gb"] is not None else ""
            print(f"epoch {record['epoch']}: {per_iteration:.3f} s per iteration ({1 / per_iteration:.1f} it/s){memory}")


if __name__ == "__main__":
    main()
