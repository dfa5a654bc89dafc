"""Does the case-level uncertainty score rank the cases that need review? Spearman correlation between the
score ``--save_uncertainty`` writes (uncertainty.csv) and 1 - Dice, on the stand-ins' test cases.

    python benchmarks/uncertainty.py [--datasets spine brats] [--test_cases 20] [--iterations 40] [--folds 3]

Per dataset: the stand-in is generated with ``--test_cases`` held-out cases, planned and preprocessed (a
network cut to 8, 16, 32, ... features so a CPU trains it), and ``--folds`` folds are trained briefly on
purpose (``--iterations`` each, trainer ``short``): the models must make mistakes for the score to have
anything to rank. The test cases are predicted with ``--save_uncertainty`` and evaluated; each case's score
is the mean over structures of its uncertainty.csv row (mean predictive entropy in and around the predicted
structure; structures predicted nowhere left out), its error the mean over structures of 1 - Dice.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

import autoseg  # noqa: E402
from autoseg.dataset import RawDataset  # noqa: E402
from autoseg.plan_and_preprocess import plan_and_preprocess  # noqa: E402
from autoseg.training import train_fold, trainer_settings  # noqa: E402
from autoseg.workflows.evaluation import evaluate_folders  # noqa: E402
from dataset_conversion.synthetic import generate_stand_in  # noqa: E402

CONFIGURATION = {"spine": "2d", "brats": "3d_fullres"}


def run(key: str, root: Path, args) -> tuple[float, float, int]:
    dataset = RawDataset(generate_stand_in(key, root / "raw", num_cases=10, num_test=args.test_cases, seed=1))
    preprocessed = root / "preprocessed" / dataset.name
    configuration = CONFIGURATION[key]
    plan_and_preprocess(dataset, preprocessed, configurations=[configuration], gpu_memory_gb=args.gpu_memory_gb, num_processes=2)
    plans = json.loads((preprocessed / "plans.json").read_text())
    architecture = plans["configurations"][configuration]["architecture"]
    architecture["features_per_stage"] = [min(8 * 2**s, 128) for s in range(len(architecture["features_per_stage"]))]
    (preprocessed / "plans.json").write_text(json.dumps(plans))
    settings = replace(trainer_settings("short"), epochs=1, iterations_per_epoch=args.iterations, validation_iterations=1, num_workers=2)
    for fold in range(args.folds):
        folder = train_fold(preprocessed, root / "results", configuration, fold=str(fold), settings=settings, trainer="short").parent
    output = root / "predictions"
    autoseg.load_model(folder, device="cpu").predict_folder(dataset.root / "imagesTs", output, save_uncertainty=True)
    summary = evaluate_folders(dataset.root / "labelsTs", output)
    with (output / "uncertainty.csv").open() as handle:
        scores = {row.pop("case_id"): [float(v) for v in row.values() if v] for row in csv.DictReader(handle)}
    errors, ranks = [], []
    for case_id, metrics in summary["cases"].items():
        dice = [values["dice"] for values in metrics.values() if not math.isnan(values["dice"])]
        if dice and scores[case_id]:
            errors.append(1 - float(np.mean(dice)))
            ranks.append(float(np.mean(scores[case_id])))
    correlation = spearmanr(ranks, errors).statistic
    return correlation, float(np.mean(errors)), len(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["spine", "brats"], choices=sorted(CONFIGURATION))
    parser.add_argument("--test_cases", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--gpu_memory_gb", type=float, default=1.0)
    args = parser.parse_args()
    rows = []
    for key in args.datasets:
        with tempfile.TemporaryDirectory(prefix=f"autoseg_uncertainty_{key}_") as scratch:
            rows.append((key, *run(key, Path(scratch), args)))
    print(f"\n{'dataset':<10} {'cases':>6} {'mean 1 - Dice':>14} {'Spearman(score, 1 - Dice)':>27}")
    for key, correlation, error, cases in rows:
        print(f"{key:<10} {cases:>6} {error:>14.3f} {correlation:>27.3f}")
    print(f"({args.folds} folds x {args.iterations} iterations each, trainer short; score: mean entropy in and around each structure)")


if __name__ == "__main__":
    main()
