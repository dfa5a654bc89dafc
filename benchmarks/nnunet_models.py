"""nnU-Net v2's own models predicted by nnU-Net and by autoseg: agreement and speed.

    python benchmarks/nnunet_models.py --nnunet /path/to/venv/bin [--work DIR] [--datasets spine isles brats]
        [--epochs 4] [--iterations 20] [--test 3]

For each stand-in dataset (spine: 2D, two channels; isles: 3D, six channels,
6.5 x 2 x 2 mm; brats: 3D, four channels, region-based labels) nnU-Net v2
plans, preprocesses and trains fold 0 of one configuration in its own venv,
with a short schedule (a trainer written into the venv's top nnUNetTrainer
folder, where nnU-Net finds trainers). Then the held-out cases are predicted
three ways, each as a fresh process timed from the shell:

* ``nnUNetv2_predict_from_modelfolder`` (one preprocessing and one export process);
* ``autoseg predict -m MODEL_FOLDER``: the nnU-Net folder used as it is;
* the model imported (``autoseg import_nnunet``) and exported to ONNX, predicted
  with ``--backend onnxruntime``, compared with the torch prediction.

Printed per dataset: voxel agreement of the two tools' label maps, the Dice
between them per label, and autoseg's wall time as a fraction of nnU-Net's.
``--work`` keeps the trained nnU-Net models between runs (training is the slow
part); an existing model is not trained again.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from autoseg.io import read_image  # noqa: E402
from dataset_conversion.synthetic import generate_stand_in  # noqa: E402

# A short schedule, so that a CPU trains the benchmark's models in minutes (nnU-Net finds trainers by class name in
# its nnUNetTrainer folder).
TRAINER = """
import os

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class nnUNetTrainer_autosegBenchmark(nnUNetTrainer):
    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict, device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = int(os.environ.get("AUTOSEG_BENCHMARK_EPOCHS", "4"))
        self.num_iterations_per_epoch = int(os.environ.get("AUTOSEG_BENCHMARK_ITERATIONS", "20"))
        self.num_val_iterations_per_epoch = 2
"""
TRAINER_NAME = "nnUNetTrainer_autosegBenchmark"
DATASETS = {  # stand-in: (nnU-Net dataset id, configuration)
    "spine": (951, "2d"),
    "isles": (952, "3d_fullres"),
    "brats": (953, "3d_fullres"),
}


def run(command: list[str], env: dict | None = None) -> float:
    """Runs ``command``; returns its wall seconds (a failure prints its output's end and stops the benchmark)."""
    began = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-4000:]}")
    return time.perf_counter() - began


def install_trainer(bin_dir: Path) -> None:
    site = subprocess.run(
        [str(bin_dir / "python"), "-c", "import nnunetv2, os; print(os.path.dirname(nnunetv2.__file__))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "training" / "nnUNetTrainer" / f"{TRAINER_NAME}.py").write_text(TRAINER)


def nnunet_model(bin_dir: Path, work: Path, key: str, epochs: int, iterations: int, test: int) -> tuple[Path, Path]:
    """Trains (once) fold 0 of the stand-in ``key`` with nnU-Net; returns (model folder, held-out images)."""
    dataset_id, configuration = DATASETS[key]
    raw = work / "nnUNet_raw"
    env = dict(
        os.environ,
        nnUNet_raw=str(raw),
        nnUNet_preprocessed=str(work / "nnUNet_preprocessed"),
        nnUNet_results=str(work / "nnUNet_results"),
        nnUNet_n_proc_DA="1",
        AUTOSEG_BENCHMARK_EPOCHS=str(epochs),
        AUTOSEG_BENCHMARK_ITERATIONS=str(iterations),
    )
    existing = sorted(raw.glob(f"Dataset{dataset_id}_*"))
    dataset = existing[0] if existing else generate_stand_in(key, raw, dataset_id=dataset_id, num_test=test)
    models = work / "nnUNet_results" / dataset.name / f"{TRAINER_NAME}__nnUNetPlans__{configuration}"
    if not (models / "fold_0" / "checkpoint_final.pth").is_file():
        print(f"{key}: nnU-Net plans, preprocesses and trains {configuration} fold 0 ({epochs} x {iterations} iterations)", flush=True)
        tool = str(bin_dir / "nnUNetv2_plan_and_preprocess")
        run([tool, "-d", str(dataset_id), "-c", configuration, "-np", "2", "--verify_dataset_integrity"], env)
        seconds = run([str(bin_dir / "nnUNetv2_train"), str(dataset_id), configuration, "0", "-tr", TRAINER_NAME, "-device", "cpu"], env)
        print(f"  trained in {seconds:.0f} s", flush=True)
    return models, dataset / "imagesTs"


def label_agreement(first: Path, second: Path) -> tuple[float, dict[int, float]]:
    """(fraction of voxels with the same label, Dice per label present in either) over the files of ``first``."""
    same = total = 0
    overlap: dict[int, list[int]] = {}
    for path in sorted(first.glob("*.nii.gz")):
        a, b = read_image(path).array[0], read_image(second / path.name).array[0]
        same += int((a == b).sum())
        total += a.size
        for label in np.union1d(np.unique(a), np.unique(b)):
            if label == 0:
                continue
            counts = overlap.setdefault(int(label), [0, 0])
            counts[0] += 2 * int(((a == label) & (b == label)).sum())
            counts[1] += int((a == label).sum() + (b == label).sum())
    return same / max(total, 1), {label: c[0] / c[1] if c[1] else 1.0 for label, c in sorted(overlap.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nnunet", type=Path, required=True, help="bin folder of a venv with nnunetv2 2.8.1")
    parser.add_argument("--work", type=Path, default=Path("nnunet_benchmark"), help="folder for datasets and models (kept)")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--test", type=int, default=3, help="held-out cases per dataset")
    parser.add_argument("--train_only", action="store_true", help="train the nnU-Net models, predict nothing")
    args = parser.parse_args()
    install_trainer(args.nnunet)
    autoseg = str(Path(sys.executable).parent / "autoseg")
    for key in args.datasets:
        model, images = nnunet_model(args.nnunet, args.work.resolve(), key, args.epochs, args.iterations, args.test)
        if args.train_only:
            continue
        outputs = args.work / "predictions" / key
        shutil.rmtree(outputs, ignore_errors=True)
        nnunet_seconds = run(
            [str(args.nnunet / "nnUNetv2_predict_from_modelfolder"), "-i", str(images), "-o", str(outputs / "nnunet"), "-m", str(model)]
            + ["-f", "0", "-device", "cpu", "-npp", "1", "-nps", "1"]
        )
        autoseg_seconds = run([autoseg, "predict", "-i", str(images), "-o", str(outputs / "autoseg"), "-m", str(model), "-f", "0"])
        voxels, dice = label_agreement(outputs / "nnunet", outputs / "autoseg")
        cases = len(list(images.glob("*_0000.nii.gz")))
        print(
            f"{key} ({model.name}, {cases} cases): labels agree on {100 * voxels:.3f} % of voxels; Dice nnU-Net vs autoseg per label "
            + ", ".join(f"{label}: {value:.4f}" for label, value in dice.items())
            + f"; wall time autoseg {autoseg_seconds:.1f} s, nnU-Net {nnunet_seconds:.1f} s ({autoseg_seconds / nnunet_seconds:.2f}x)",
            flush=True,
        )
        results = args.work / "autoseg_results"
        imported = json.loads(
            subprocess.run(
                [autoseg, "import_nnunet", str(model), "--results", str(results), "--overwrite", "--json"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )["model_folder"]
        onnx_seconds = run(
            [autoseg, "predict", "-i", str(images), "-o", str(outputs / "onnx"), "-m", imported, "-f", "0", "--backend", "onnxruntime"]
        )
        voxels, dice = label_agreement(outputs / "autoseg", outputs / "onnx")
        print(
            f"  imported model, onnxruntime vs torch: labels agree on {100 * voxels:.3f} % of voxels, Dice per label "
            + ", ".join(f"{label}: {value:.4f}" for label, value in dice.items())
            + f" ({onnx_seconds:.1f} s with the export)",
            flush=True,
        )


if __name__ == "__main__":
    main()
