"""A whole-body CT (512 x 512 x 1,000) predicted by autoseg and by nnU-Net v2 with the same model: peak memory, time.

    python benchmarks/whole_body_prediction.py --nnunet /path/to/venv/bin [--slices 1000] [--classes 7]
        [--spacing 1.6 1.6 1.6] [--features 8 16 32 64 128] [--patch 64 128 128] [--skip_nnunet]

One nnU-Net v2 model folder (3d_fullres, fold 0, a plain U-Net of ``--features``
at ``--spacing``, CT normalisation; written by tests/nnunet/folders.py, as nnU-Net
writes one, with seeded weights) is predicted on one CT volume: slabs of the
abdominal CT stand-in stacked to ``--slices`` slices of 512 x 512 at 1.0 x 0.8 x
0.8 mm, int16 HU (256 M voxels; 1 GB as float32). Both tools run as fresh
processes on the CPU without mirroring, one case at a time (nnU-Net: ``-npp 1
-nps 1``; autoseg: ``predict -m FOLDER``). Printed per tool: wall time, CPU time
of the process tree, peak memory (summed proportional set size of the tree,
sampled every 0.5 s) in MB and in float32 copies of the volume; then the share
of voxels on which the two label maps agree (nnU-Net sums tiles in float16).

The network is small on purpose: the benchmark measures what whole-body size
does to preprocessing, the sliding window's accumulator, resampling back and
export, not a CPU's convolution speed (a full-size 3D U-Net would spend hours
on 2 cores here).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from autoseg.io import Geometry, ImageData, read_image, write_image  # noqa: E402
from benchmarks.plan_and_preprocess import run_measured  # noqa: E402
from dataset_conversion.synthetic.ct import ct_case  # noqa: E402
from tests.nnunet.folders import Scenario, Stage, write_model  # noqa: E402

SPACING = (1.0, 0.8, 0.8)  # z, y, x of the volume, in mm


def whole_body(slices: int, rng: np.random.Generator) -> np.ndarray:
    """Abdominal CT stand-ins stacked along z (each a different scan) and cut to ``slices`` slices, int16 HU."""
    parts, total = [], 0
    while total < slices:
        image, _, _ = ct_case(rng)
        parts.append(image)
        total += len(image)
    return np.concatenate(parts)[:slices]


def model(work: Path, args) -> Path:
    """The nnU-Net model folder: one 3d_fullres stage (no transposition) with CT normalisation."""
    levels = len(args.features)
    stage = Stage(
        name="3d_fullres",
        spacing=list(args.spacing),
        patch_size=list(args.patch),
        strides=[[1, 1, 1]] + [[2, 2, 2]] * (levels - 1),
        kernel_sizes=[[3, 3, 3]] * levels,
        features=list(args.features),
        normalization=["CTNormalization"],
        use_mask=[False],
    )
    scenario = Scenario(
        name="WholeBody",
        channels={"0": "CT"},
        labels={"background": 0, **{f"structure_{value}": value for value in range(1, args.classes)}},
        stages=[stage],
        transpose=[0, 1, 2],
        image_shape=(args.slices, 512, 512),
        image_spacing=SPACING,
    )
    return write_model(scenario, work / "results")["3d_fullres"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nnunet", type=Path, default=None, help="bin folder of a venv with nnunetv2 installed")
    parser.add_argument("--slices", type=int, default=1000)
    parser.add_argument("--classes", type=int, default=7, help="output classes, background included")
    parser.add_argument("--spacing", type=float, nargs=3, default=[1.6, 1.6, 1.6], help="the model's target spacing (mm)")
    parser.add_argument("--features", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    parser.add_argument("--patch", type=int, nargs=3, default=[64, 128, 128])
    parser.add_argument("--step_size", type=float, default=0.5)
    parser.add_argument("--keep", type=Path, default=None, help="work here and keep the files (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        work = args.keep or Path(temporary)
        images = work / "images"
        image = whole_body(args.slices, np.random.default_rng(0))
        geometry = Geometry(SPACING, (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
        write_image(ImageData(image[None], geometry), images / "body_0000.nii.gz")
        volume_mb = image.size * 4 / 2**20
        print(
            f"volume {image.shape} at {SPACING} mm ({image.size / 1e6:.0f} M voxels, float32 {volume_mb:.0f} MB), {args.classes} "
            f"classes, model at {args.spacing} mm, features {args.features}, patch {args.patch}, step {args.step_size}, no mirroring"
        )
        del image
        folder = model(work, args)
        step = str(args.step_size)
        runs = {
            "autoseg": (
                [str(Path(sys.executable).parent / "autoseg"), "predict", "-m", str(folder), "-i", str(images), "-o", str(work / "autoseg")]
                + ["-f", "0", "--device", "cpu", "--disable_tta", "--step_size", step],
                dict(os.environ),
            )
        }
        if args.nnunet:
            env = dict(os.environ, nnUNet_results=str(work / "results"), nnUNet_raw=str(work), nnUNet_preprocessed=str(work))
            runs["nnU-Net"] = (
                [str(args.nnunet / "nnUNetv2_predict_from_modelfolder"), "-m", str(folder), "-i", str(images), "-o", str(work / "nnunet")]
                + ["-f", "0", "-device", "cpu", "--disable_tta", "-step_size", step, "-npp", "1", "-nps", "1"],
                env,
            )
        print(f"{'tool':<9} {'wall s':>8} {'CPU s':>8} {'peak MB':>8} {'volumes':>8}")
        for tool, (command, env) in runs.items():
            wall, cpu, peak = run_measured(command, env)
            print(f"{tool:<9} {wall:>8.1f} {cpu:>8.1f} {peak / 2**20:>8.0f} {peak / 2**20 / volume_mb:>8.1f}", flush=True)
        if args.nnunet:
            ours, theirs = (read_image(work / tool / "body.nii.gz").array for tool in ("autoseg", "nnunet"))
            print(f"label maps agree on {100 * float(np.mean(ours == theirs)):.3f} % of voxels")


if __name__ == "__main__":
    main()
