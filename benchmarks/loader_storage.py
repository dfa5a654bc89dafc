"""What the preprocessed-data layout costs the training loader: patches per second per worker, and disk.

    python benchmarks/loader_storage.py [--datasets brats ct] [--ct_zoom 0.5] [--count 40]

For each stand-in, plans and preprocesses 3d_fullres, then one augmentation
worker delivers batches: with augmentation (what training on the CPU path
reads) and cutting patches only (the device path; here the storage's read
cost is the whole cost). Prints batches and patches per second and the
preprocessed data's size on disk against its float32 size. Run it on an
earlier commit too (git worktree) to compare layouts: the numbers in
benchmarks/README.md put the .npy layout (memory-mapped, uncompressed) beside
the blosc2 one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from autoseg.data.loader import BatchRecipe, BatchStream  # noqa: E402
from autoseg.dataset import RawDataset  # noqa: E402
from autoseg.plan_and_preprocess import plan_and_preprocess  # noqa: E402
from autoseg.preprocessing.storage import finished_cases, load_case  # noqa: E402
from dataset_conversion.synthetic import generate_stand_in  # noqa: E402


def batches_per_second(recipe: BatchRecipe, count: int) -> float:
    with BatchStream(recipe, 0, 10**9, num_workers=1) as stream:
        next(stream)  # start-up
        began = time.perf_counter()
        for _ in range(count):
            next(stream)
        return count / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["brats", "ct"])
    parser.add_argument("--ct_zoom", type=float, default=0.5, help="the CT stand-in's grid scale (1: clinical size)")
    parser.add_argument("--cases", type=int, default=4)
    parser.add_argument("--count", type=int, default=40, help="batches timed per rate")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        for key in args.datasets:
            zoom = args.ct_zoom if key == "ct" else 1.0
            dataset = RawDataset(generate_stand_in(key, Path(work) / "raw", num_cases=args.cases, num_test=0, zoom=zoom))
            preprocessed = Path(work) / "preprocessed" / dataset.name
            plans = plan_and_preprocess(dataset, preprocessed, configurations=["3d_fullres"], num_processes=2)
            config = plans.configuration("3d_fullres")
            folder = preprocessed / config.data_identifier
            cases = tuple(finished_cases(folder))
            stored = sum(f.stat().st_size for f in (folder / "cases").rglob("*") if f.is_file())
            float32 = sum(np.asarray(load_case(folder, case)[0]).nbytes for case in cases)
            recipe = BatchRecipe(
                str(folder), cases, tuple(config.patch_size), config.batch_size, tuple(config.mirror_axes), config.slice_axis, True, True, 0
            )
            augmented = batches_per_second(recipe, args.count)
            cut = batches_per_second(replace(recipe, augment=False), args.count)
            print(
                f"{key} (zoom {zoom:g}, patch {config.patch_size}, batch {config.batch_size}): 1 worker, augmented "
                f"{augmented:.2f} batches/s ({augmented * config.batch_size:.1f} patches/s), patches cut only {cut:.2f} batches/s "
                f"({cut * config.batch_size:.1f} patches/s); on disk {stored / 2**20:.1f} MB for {float32 / 2**20:.1f} MB of float32 "
                f"data ({stored / float32:.2f})",
                flush=True,
            )


if __name__ == "__main__":
    main()
