"""Peak memory of ``autoseg predict`` on a CT-sized volume (512 x 512 x 400) on the CPU.

    python benchmarks/prediction_memory.py [--shape 400 512 512] [--classes 3] [--mirroring]

A small CT-like dataset (body ellipse in Hounsfield units, organs as labels)
is planned and preprocessed; the network is cut to a few features so that
the benchmark measures the prediction pipeline's arrays, not the network's
arithmetic, and fold 0 is trained for one iteration. Then one volume of
``--shape`` voxels at the dataset's spacing is predicted by ``autoseg
predict`` in a fresh process; the peak resident memory of the process tree
(sampled every 20 ms) is printed beside the size of one float32 copy of the
volume and of the (K, volume) output.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from autoseg.dataset import RawDataset  # noqa: E402
from autoseg.io import Geometry, ImageData, write_image  # noqa: E402
from autoseg.plan_and_preprocess import plan_and_preprocess  # noqa: E402
from autoseg.training import TrainingSettings, train_fold  # noqa: E402
from benchmarks.prediction import timed_run  # noqa: E402

SPACING = (1.5, 0.8, 0.8)


def ct_volume(shape: tuple[int, ...], classes: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A body ellipse of soft tissue (40 HU) in air (-1000 HU), with ``classes - 1`` brighter ellipsoid organs."""
    grids = np.meshgrid(*[np.linspace(-1, 1, n, dtype=np.float32) for n in shape], indexing="ij", sparse=True)
    body = np.broadcast_to((grids[1] / 0.8) ** 2 + (grids[2] / 0.9) ** 2 <= 1, shape)
    image = np.where(body, np.float32(40), np.float32(-1000))
    label = np.zeros(shape, np.uint8)
    for value in range(1, classes):
        centre = rng.uniform(-0.4, 0.4, 3)
        organ = sum(((g - c) / 0.25) ** 2 for g, c in zip(grids, centre)) <= 1
        label[organ & body] = value
        image[organ & body] = 60 + 40 * value
    image += rng.normal(0, 10, shape).astype(np.float32)
    return image.astype(np.int16), label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", type=int, nargs=3, default=[400, 512, 512])
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--mirroring", action="store_true", help="predict with mirroring (8x the network calls)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    geometry = Geometry(SPACING, (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        raw = work / "raw" / "Dataset950_CTMemory"
        for index in range(5):
            image, label = ct_volume((40, 64, 64), args.classes, rng)
            write_image(ImageData(image[None], geometry), raw / "imagesTr" / f"ct_{index:03d}_0000.nii.gz")
            write_image(ImageData(label[None], geometry), raw / "labelsTr" / f"ct_{index:03d}.nii.gz")
        labels = {"background": 0, **{f"organ_{v}": v for v in range(1, args.classes)}}
        (raw / "dataset.json").write_text(
            json.dumps({"channel_names": {"0": "CT"}, "labels": labels, "numTraining": 5, "file_ending": ".nii.gz"})
        )
        image, _ = ct_volume(tuple(args.shape), args.classes, rng)
        write_image(ImageData(image[None], geometry), work / "big" / "big_0000.nii.gz")
        del image

        preprocessed = work / "preprocessed" / raw.name
        plan_and_preprocess(RawDataset(raw), preprocessed, configurations=["3d_fullres"])
        plans_path = preprocessed / "plans.json"
        plans = json.loads(plans_path.read_text())
        config = plans["configurations"]["3d_fullres"]
        config["architecture"]["features_per_stage"] = [4 * 2**s for s in range(len(config["architecture"]["features_per_stage"]))]
        plans_path.write_text(json.dumps(plans, indent=2))
        train_fold(
            preprocessed,
            work / "results",
            "3d_fullres",
            fold="0",
            settings=TrainingSettings(epochs=1, iterations_per_epoch=1, validation_iterations=1, num_workers=0),
        )

        voxels = int(np.prod(args.shape))
        print(
            f"volume {tuple(args.shape)} ({voxels / 1e6:.0f} M voxels) at {SPACING} mm, {args.classes} classes, patch "
            f"{config['patch_size']}, "
            f"features {config['architecture']['features_per_stage']}, mirroring {args.mirroring}"
        )
        print(
            f"one float32 copy of the volume: {voxels * 4 / 2**20:.0f} MB; the (K, volume) float32 output: "
            f"{voxels * 4 * args.classes / 2**20:.0f} MB"
        )
        out = work / "predicted"
        command = [
            str(Path(sys.executable).parent / "autoseg"),
            "predict",
            "-i",
            str(work / "big"),
            "-o",
            str(out),
            "-d",
            raw.name,
            "-c",
            "3d_fullres",
            "-f",
            "0",
            "--results",
            str(work / "results"),
            "--device",
            "cpu",
            *([] if args.mirroring else ["--disable_tta"]),
        ]
        seconds, _, peak = timed_run(command, out)
        print(
            f"autoseg predict: {seconds:.1f} s, peak RSS of the process tree {peak:.0f} MB ({peak * 2**20 / (voxels * 4):.1f} "
            "float32 volumes)"
        )


if __name__ == "__main__":
    main()
