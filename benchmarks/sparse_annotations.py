"""How much does a model lose when it is trained on sparse annotations (the `ignore` label)?

    python benchmarks/sparse_annotations.py [--cases 30] [--test_cases 10] [--epochs 30] [--iterations 20]

The lumbar-spine stand-in is generated once and trained three ways for the same iterations (fold 0, trainer
``short``, the demo's CPU-sized network: 8-64 features, 64 x 64 patches, batch 4):

* dense: every pixel labelled;
* scribbles: per image about 10 % of the pixels annotated: each muscle's skeleton (one pixel either side) and
  a band of background around the muscles (from 2 pixels out, widened until a tenth of the image is
  annotated); every other pixel is ``ignore``;
* every third image: a third of the training images labelled densely, the rest entirely ``ignore``.

Each model predicts the held-out test cases, scored against their dense labels: Dice per muscle and the mean.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402
from skimage.morphology import skeletonize  # noqa: E402

import autoseg  # noqa: E402
from autoseg.dataset import RawDataset  # noqa: E402
from autoseg.io import ImageData, read_image, write_image  # noqa: E402
from autoseg.plan_and_preprocess import plan_and_preprocess  # noqa: E402
from autoseg.training import train_fold, trainer_settings  # noqa: E402
from autoseg.workflows.evaluation import evaluate_folders  # noqa: E402
from dataset_conversion.synthetic import generate_stand_in  # noqa: E402

SCRIBBLE_FRACTION = 0.10


def scribbles(labels: np.ndarray, ignore: int) -> np.ndarray:
    """About a tenth of the pixels annotated: each structure's skeleton (dilated by one pixel, inside the
    structure) and a background band around the structures, widened until the fraction is reached."""
    sparse = np.full(labels.shape, ignore, dtype=np.uint8)
    for value in np.unique(labels):
        if value == 0:
            continue
        mask = labels == value
        skeleton = ndimage.binary_dilation(skeletonize(mask)) & mask
        sparse[skeleton] = value
    foreground = labels > 0
    inner = ndimage.binary_dilation(foreground, iterations=2)
    for width in range(1, 40):
        band = ndimage.binary_dilation(foreground, iterations=2 + width) & ~inner
        if np.mean((sparse != ignore) | band) >= SCRIBBLE_FRACTION:
            break
    sparse[band] = 0
    return sparse


def make_variant(dense: Path, root: Path, name: str, sparsify) -> tuple[Path, float]:
    """A copy of the dense dataset with its training labels sparsified; returns it and the annotated fraction."""
    folder = root / dense.name.replace("Dataset901", {"dense": "Dataset931", "scribbles": "Dataset932", "thirds": "Dataset933"}[name])
    shutil.copytree(dense, folder)
    if sparsify is None:
        return folder, 1.0
    spec = json.loads((folder / "dataset.json").read_text())
    ignore = max(spec["labels"].values()) + 1
    spec["labels"]["ignore"] = ignore
    (folder / "dataset.json").write_text(json.dumps(spec, indent=2))
    annotated = []
    for index, path in enumerate(sorted((folder / "labelsTr").iterdir())):
        label = read_image(path)
        sparse = sparsify(index, label.array[0], ignore)
        annotated.append(np.mean(sparse != ignore))
        write_image(ImageData(sparse[None].astype(np.uint8), label.geometry), path)
    return folder, float(np.mean(annotated))


def train_and_score(raw: Path, root: Path, args) -> dict:
    dataset = RawDataset(raw)
    preprocessed = root / "preprocessed" / dataset.name
    plan_and_preprocess(dataset, preprocessed, configurations=["2d"], num_processes=2)
    plans = json.loads((preprocessed / "plans.json").read_text())
    config = plans["configurations"]["2d"]
    features = [8, 16, 32, 64]
    architecture = config["architecture"]
    for key in ("kernel_sizes", "strides"):
        architecture[key] = architecture[key][: len(features)]
    architecture["features_per_stage"], config["patch_size"], config["batch_size"] = features, [64, 64], 4
    (preprocessed / "plans.json").write_text(json.dumps(plans))
    settings = replace(
        trainer_settings("short"), epochs=args.epochs, iterations_per_epoch=args.iterations, validation_iterations=4, initial_lr=1e-3
    )
    start = time.perf_counter()
    fold = train_fold(preprocessed, root / "results", "2d", fold="0", settings=settings, trainer="short")
    seconds = time.perf_counter() - start
    output = root / "predictions" / dataset.name
    autoseg.load_model(fold.parent, device="cpu").predict_folder(dataset.root / "imagesTs", output)
    summary = evaluate_folders(dataset.root / "labelsTs", output)
    return {"dice": {name: values["dice"] for name, values in summary["mean"].items()}, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=30)
    parser.add_argument("--test_cases", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    variants = {
        "dense": None,
        "scribbles": lambda index, labels, ignore: scribbles(labels, ignore),
        "thirds": lambda index, labels, ignore: labels if index % 3 == 0 else np.full(labels.shape, ignore, np.uint8),
    }
    rows = []
    with tempfile.TemporaryDirectory(prefix="autoseg_sparse_") as scratch:
        root = Path(scratch)
        dense = generate_stand_in("spine", root / "source", num_cases=args.cases, num_test=args.test_cases, seed=1)
        for name, sparsify in variants.items():
            raw, fraction = make_variant(dense, root / "raw", name, sparsify)
            rows.append((name, fraction, train_and_score(raw, root, args)))
    structures = list(rows[0][2]["dice"])
    header = f"{'training labels':<18} {'annotated':>10} " + " ".join(f"{s:>17}" for s in structures) + f" {'mean Dice':>10} {'train s':>8}"
    print("\n" + header)
    for name, fraction, result in rows:
        dice = result["dice"]
        cells = " ".join(f"{dice[s]:>17.3f}" for s in structures)
        print(f"{name:<18} {fraction:>9.1%} {cells} {np.mean(list(dice.values())):>10.3f} {result['seconds']:>8.0f}")
    print(
        f"(spine stand-in, {args.cases} training + {args.test_cases} test cases; fold 0, trainer short, {args.epochs} x {args.iterations} "
        "iterations each; Dice on the dense labels of the test cases)"
    )


if __name__ == "__main__":
    main()
