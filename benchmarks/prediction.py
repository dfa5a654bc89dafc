"""Prediction speed and memory against volume size, autoseg beside nnU-Net v2 with the same weights.

    python benchmarks/prediction.py [--zooms 1 1.5 2] [--test 2] [--gpu_memory_gb 1] [--device cpu]
        [--nnunet /path/to/venv/bin]

For each zoom, the BraTS stand-in is generated on a finer grid (zoom 2: twice
the voxels per axis, 8x the volume), planned (3d_fullres) and preprocessed,
and fold 0 is trained for a few iterations (the weights only need to be
decisive). Then ``autoseg predict`` runs on the held-out cases as a fresh
process, with and without mirroring, and prints wall seconds per case, the
seconds until the first prediction is written (start-up plus one case) and
the peak resident memory of the whole process tree (sampled every 20 ms).

With ``--nnunet`` (the bin folder of a venv holding nnunetv2 2.8.1), the same
plan and the same weights are given to nnU-Net (benchmarks/nnunet.py) and
``nnUNetv2_predict`` runs on the same cases (one preprocessing and one export
process, as autoseg's one export process); the Dice between the two tools'
predictions of each case is printed to show the results agree.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from autoseg.dataset import RawDataset  # noqa: E402
from autoseg.evaluation import segmentation_metrics  # noqa: E402
from autoseg.io import read_image  # noqa: E402
from autoseg.plan_and_preprocess import plan_and_preprocess  # noqa: E402
from autoseg.training import TrainingSettings, train_fold  # noqa: E402
from benchmarks.nnunet import export_weights, nnunet_env, plan_like_autoseg  # noqa: E402
from dataset_conversion.synthetic import generate_stand_in  # noqa: E402


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MB (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            rss[int(entry.name)] = int((entry / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack += children.get(current, [])
    return total * 4096 / 2**20


def timed_run(command: list[str], output_dir: Path, env: dict | None = None) -> tuple[float, float, float]:
    """Runs ``command``; returns (wall seconds, seconds until the first prediction is in ``output_dir``, peak tree RSS in MB)."""
    began = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak, first = [0.0], [float("nan")]

    def sample():
        while process.poll() is None:
            peak[0] = max(peak[0], tree_rss_mb(process.pid))
            if first[0] != first[0] and output_dir.is_dir() and any(not p.name.startswith(".") for p in output_dir.glob("*.nii.gz")):
                first[0] = time.perf_counter() - began
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    seconds = time.perf_counter() - began
    sampler.join()
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output[-3000:]}")
    return seconds, first[0], peak[0]


def report(tool: str, zoom: float, mirroring: bool, cases: int, seconds: float, first: float, peak: float) -> None:
    print(
        f"  {tool:<8} zoom {zoom} mirroring {mirroring!s:<5}: {seconds / cases:7.2f} s/case ({seconds:6.1f} s for {cases}, "
        f"first written after {first:5.1f} s), peak {peak:6.0f} MB"
    )


def agreement(first: Path, second: Path, regions: dict[str, tuple[int, ...]]) -> list[float]:
    """Dice between two predictions of one case, per region."""
    a, b = read_image(first).array[0], read_image(second).array[0]
    return [segmentation_metrics(np.isin(a, values), np.isin(b, values), (1, 1, 1))["dice"] for values in regions.values()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zooms", type=float, nargs="+", default=[1.0, 1.5, 2.0])
    parser.add_argument("--test", type=int, default=2, help="held-out cases predicted per size")
    parser.add_argument("--gpu_memory_gb", type=float, default=1.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--nnunet", type=Path, default=None, help="bin folder of a venv with nnunetv2")
    args = parser.parse_args()
    autoseg = str(Path(sys.executable).parent / "autoseg")
    with tempfile.TemporaryDirectory() as work_root:
        for zoom in args.zooms:
            work = Path(work_root) / f"zoom_{zoom}"
            dataset = RawDataset(generate_stand_in("brats", work / "raw", num_cases=5, num_test=args.test, zoom=zoom))
            preprocessed = work / "preprocessed" / dataset.name
            plans = plan_and_preprocess(dataset, preprocessed, configurations=["3d_fullres"], gpu_memory_gb=args.gpu_memory_gb)
            config = plans.configuration("3d_fullres")
            settings = TrainingSettings(epochs=2, iterations_per_epoch=3, validation_iterations=1, num_workers=1)
            fold = train_fold(preprocessed, work / "results", "3d_fullres", fold="0", device=args.device, settings=settings)
            shape = read_image(next((dataset.root / "imagesTs").iterdir())).spatial_shape
            print(
                f"zoom {zoom}: image {shape} at {read_image(next((dataset.root / 'imagesTs').iterdir())).geometry.spacing} mm; "
                f"plan spacing {config.spacing}, patch {config.patch_size}, features {config.architecture.features_per_stage}"
            )
            outputs = {}
            for mirroring in (True, False):
                tta = [] if mirroring else ["--disable_tta"]
                out = work / f"autoseg_{mirroring}"
                command = [
                    autoseg,
                    "predict",
                    "-i",
                    str(dataset.root / "imagesTs"),
                    "-o",
                    str(out),
                    "-d",
                    dataset.name,
                    "-c",
                    "3d_fullres",
                    "-f",
                    "0",
                    "--results",
                    str(work / "results"),
                    "--device",
                    args.device,
                    *tta,
                ]
                outputs["autoseg", mirroring] = out
                report("autoseg", zoom, mirroring, args.test, *timed_run(command, out))
            if args.nnunet:
                env = nnunet_env(work / "raw", work)
                plans_path = plan_like_autoseg(
                    args.nnunet, env, dataset.name, plans.to_json()["configurations"]["3d_fullres"], "3d_fullres"
                )
                export_weights(
                    args.nnunet, env, fold / "checkpoint_final.pt", plans_path, dataset.root, "3d_fullres", list(config.mirror_axes)
                )
                for mirroring in (True, False):
                    tta = [] if mirroring else ["--disable_tta"]
                    out = work / f"nnunet_{mirroring}"
                    command = [
                        str(args.nnunet / "nnUNetv2_predict"),
                        "-i",
                        str(dataset.root / "imagesTs"),
                        "-o",
                        str(out),
                        "-d",
                        dataset.name[7:10],
                        "-c",
                        "3d_fullres",
                        "-f",
                        "0",
                        "-device",
                        args.device,
                        "-npp",
                        "1",
                        "-nps",
                        "1",
                        *tta,
                    ]
                    outputs["nnunet", mirroring] = out
                    report("nnU-Net", zoom, mirroring, args.test, *timed_run(command, out, env))
                regions = {
                    name: tuple(value) if isinstance(value, (list, tuple)) else (value,)
                    for name, value in dataset.spec.labels.items()
                    if value != 0
                }
                for mirroring in (True, False):
                    dice = [
                        agreement(path, outputs["nnunet", mirroring] / path.name, regions)
                        for path in sorted(outputs["autoseg", mirroring].glob("*.nii.gz"))
                    ]
                    print(
                        f"  agreement (Dice autoseg vs nnU-Net), mirroring {mirroring}: "
                        + ", ".join(f"{name} {np.mean([d[i] for d in dice]):.4f}" for i, name in enumerate(regions))
                    )


if __name__ == "__main__":
    main()
