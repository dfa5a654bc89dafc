"""Seconds per case on the CPU: the torch backend against onnxruntime, 2D and 3D, with and without mirroring.

    python benchmarks/onnx_speed.py [--datasets spine brats] [--zoom 2] [--gpu_memory_gb 8] [--cases 2]

Each stand-in (its grid scaled by ``--zoom``: 2 gives BraTS 80 x 112 x 96 voxels) is planned at
``--gpu_memory_gb`` (the networks a GPU would train: their speed is what is compared), fold 0 is trained for
one iteration (weights do not change the arithmetic), exported to ONNX, and ``--cases`` test cases are
predicted with each backend, the model loaded once beforehand. Both backends use every core they are given;
the labels' agreement is printed beside the times.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import autoseg  # noqa: E402
from autoseg.dataset import RawDataset  # noqa: E402
from autoseg.plan_and_preprocess import plan_and_preprocess  # noqa: E402
from autoseg.training import TrainingSettings, train_fold  # noqa: E402
from dataset_conversion.synthetic import generate_stand_in  # noqa: E402

CONFIGURATION = {"spine": "2d", "brats": "3d_fullres"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["spine", "brats"], choices=sorted(CONFIGURATION))
    parser.add_argument("--gpu_memory_gb", type=float, default=8.0)
    parser.add_argument("--cases", type=int, default=2)
    parser.add_argument("--zoom", type=float, default=2.0)
    args = parser.parse_args()
    rows = []
    for key in args.datasets:
        with tempfile.TemporaryDirectory(prefix=f"autoseg_onnx_{key}_") as scratch:
            root = Path(scratch)
            dataset = RawDataset(generate_stand_in(key, root / "raw", num_cases=5, num_test=args.cases, seed=0, zoom=args.zoom))
            configuration = CONFIGURATION[key]
            preprocessed = root / "preprocessed" / dataset.name
            plans = plan_and_preprocess(dataset, preprocessed, configurations=[configuration], gpu_memory_gb=args.gpu_memory_gb)
            settings = TrainingSettings(epochs=1, iterations_per_epoch=1, validation_iterations=1, num_workers=0)
            fold = train_fold(preprocessed, root / "results", configuration, fold="0", settings=settings)
            models = {
                "torch": autoseg.load_model(fold.parent, device="cpu"),
                "onnxruntime": autoseg.load_model(fold.parent, backend="onnxruntime"),
            }
            cases = [[str(p) for p in case.image_files] for case in dataset.cases("test")]
            patch = plans.configurations[configuration].patch_size
            for mirroring in (False, True):
                labels, seconds = {}, {}
                for backend, model in models.items():
                    model.predict(cases[0], mirroring=mirroring)  # warm-up (allocations, oneDNN kernels)
                    start = time.perf_counter()
                    labels[backend] = [model.predict(case, mirroring=mirroring) for case in cases]
                    seconds[backend] = (time.perf_counter() - start) / len(cases)
                agreement = np.mean([np.mean(a == b) for a, b in zip(labels["torch"], labels["onnxruntime"])])
                rows.append((f"{key} {configuration} {patch}", mirroring, seconds["torch"], seconds["onnxruntime"], agreement))
    print(f"\nCPU: {torch.get_num_threads()} torch threads")
    print(f"{'configuration':<36} {'mirroring':>9} {'torch s/case':>13} {'onnxruntime s/case':>19} {'ratio':>6} {'labels agree':>13}")
    for name, mirroring, torch_seconds, onnx_seconds, agreement in rows:
        ratio = onnx_seconds / torch_seconds
        print(f"{name:<36} {str(mirroring):>9} {torch_seconds:>13.2f} {onnx_seconds:>19.2f} {ratio:>6.2f} {agreement:>13.5f}")


if __name__ == "__main__":
    main()
