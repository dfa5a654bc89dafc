"""How well does each trainer learn at a given budget? The validation metric after 100, 300 and 1000 iterations.

    python benchmarks/learning_curves.py [--datasets spine brats pet ad] [--budgets 100 300 1000]
                                         [--trainers default nnunet short] [--png curves.png]
    python benchmarks/learning_curves.py --collect run1.txt default_before=old.txt --png curves.png

For each stand-in (spine and BraTS: segmentation, Dice; low-dose PET: regression, PSNR gain over the low-dose
input; AD vs CN: classification, balanced accuracy), fold 0 of its CPU-sized demo configuration (the demo's
network, patch and batch) is trained from scratch with each trainer for each budget (20 iterations per epoch,
so 100 iterations are 5 epochs), and the whole-case validation's metric is printed as a table; with --png the
curves are drawn. This is the measurement issue #19's optimisation rule is judged by: the trainer's schedule
may depend on the budget, so each budget is its own run, not a point on one long run.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autoseg.dataset import RawDataset  # noqa: E402
from autoseg.demo import DEMOS, demo_sized_plans  # noqa: E402
from autoseg.plan_and_preprocess import plan_and_preprocess  # noqa: E402
from autoseg.training import train_fold, trainer_settings  # noqa: E402
from dataset_conversion.synthetic import generate_stand_in  # noqa: E402

BRATS = replace(DEMOS["pet"], stand_in="brats", score_inputs=False)  # the 3D demo network and patch, on BraTS
RECIPES = {"spine": DEMOS["spine"], "brats": BRATS, "pet": DEMOS["pet"], "ad": DEMOS["ad"]}
ITERATIONS_PER_EPOCH = 20


def metric(summary: dict) -> tuple[str, float]:
    """The validation metric of a fold's summary.json: balanced accuracy, PSNR gain over the input, or Dice."""
    if "metrics" in summary:
        return "balanced accuracy", summary["metrics"]["balanced_accuracy"]
    if "baseline" in summary:
        gains = [summary["mean"][t]["psnr"] - summary["baseline"]["mean"][t]["psnr"] for t in summary["mean"]]
        return "PSNR gain (dB)", sum(gains) / len(gains)
    return "Dice", summary["foreground_mean"]["dice"]


def prepare(key: str, root: Path) -> Path:
    """The stand-in planned and preprocessed, with the demo-sized configuration as plans_curves.json."""
    recipe = RECIPES[key]
    dataset = RawDataset(generate_stand_in(key, root / "raw", seed=0))
    preprocessed = root / "preprocessed" / dataset.name
    plans = plan_and_preprocess(dataset, preprocessed, configurations=[recipe.configuration], num_processes=2)
    demo_sized_plans(plans, recipe).save(preprocessed / "plans_curves.json")
    return preprocessed


def run(preprocessed: Path, results: Path, key: str, trainer: str, budget: int) -> tuple[str, float, float]:
    recipe = RECIPES[key]
    settings = replace(
        trainer_settings(trainer),
        epochs=max(1, budget // ITERATIONS_PER_EPOCH),
        iterations_per_epoch=min(budget, ITERATIONS_PER_EPOCH),
        validation_iterations=4,
        num_workers=2,
    )
    start = time.perf_counter()
    fold = train_fold(
        preprocessed,
        results / f"{trainer}_{budget}",
        recipe.configuration,
        fold="0",
        plans_file="plans_curves.json",
        settings=settings,
        trainer=trainer,
    )
    name, value = metric(json.loads((fold / "validation" / "summary.json").read_text()))
    return name, value, time.perf_counter() - start


ROW = re.compile(r"^(\w+) (\w+) (\d+) iterations: (.+) (-?[0-9.]+|nan)(?: \((\d+) s\))?$")


def collect(sources: list[str]) -> list[tuple]:
    """The rows printed by earlier runs: ``FILE`` (trainers as printed) or ``LABEL=FILE`` (every row's trainer
    called LABEL, e.g. the default trainer of an older checkout as ``default_before``)."""
    rows = []
    for source in sources:
        label, _, path = source.rpartition("=")
        for line in Path(path).read_text().splitlines():
            match = ROW.match(line)
            if match:
                key, trainer, budget, name, value, seconds = match.groups()
                rows.append((key, name, label or trainer, int(budget), float(value), float(seconds or "nan")))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--budgets", nargs="+", type=int, default=[100, 300, 1000])
    parser.add_argument("--trainers", nargs="+", default=["default", "nnunet", "short"])
    parser.add_argument("--png", default=None, help="draw the curves into this PNG")
    parser.add_argument(
        "--collect",
        nargs="+",
        metavar="[LABEL=]FILE",
        help="train nothing: tabulate (and draw) the rows that earlier runs printed into these files",
    )
    args = parser.parse_args()
    rows = collect(args.collect) if args.collect else measure(args)
    keys = [key for key in RECIPES if any(r[0] == key for r in rows)]
    trainers = list(dict.fromkeys(r[2] for r in rows))
    budgets = sorted({r[3] for r in rows})
    print(f"\n{'dataset':<8} {'metric':<18} {'trainer':<16} " + " ".join(f"{b:>8}" for b in budgets))
    for key in keys:
        for trainer in trainers:
            chosen = [r for r in rows if r[0] == key and r[2] == trainer]
            if not chosen:
                continue
            values = {r[3]: r[4] for r in chosen}
            cells = " ".join(f"{values[b]:>8.3f}" if b in values and not math.isnan(values[b]) else f"{'-':>8}" for b in budgets)
            print(f"{key:<8} {chosen[0][1]:<18} {trainer:<16} {cells}")
    print(f"(fold 0 of each stand-in's demo-sized configuration, {ITERATIONS_PER_EPOCH} iterations per epoch, CPU)")
    if args.png:
        draw(rows, keys, trainers, Path(args.png))


def measure(args) -> list[tuple]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="autoseg_curves_") as scratch:
        for key in args.datasets:
            root = Path(scratch) / key
            preprocessed = prepare(key, root)
            for trainer in args.trainers:
                for budget in args.budgets:
                    name, value, seconds = run(preprocessed, root / "results", key, trainer, budget)
                    rows.append((key, name, trainer, budget, value, seconds))
                    print(f"{key} {trainer} {budget} iterations: {name} {value:.3f} ({seconds:.0f} s)", flush=True)
    return rows


def draw(rows: list, keys: list[str], trainers: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(1, len(keys), figsize=(4 * len(keys), 3.2), squeeze=False)
    colours = dict(zip(trainers, pyplot.rcParams["axes.prop_cycle"].by_key()["color"] * len(trainers)))  # one per trainer
    for axis, key in zip(axes[0], keys):
        for trainer in trainers:
            points = sorted((r[3], r[4]) for r in rows if r[0] == key and r[2] == trainer)
            if points:
                axis.plot([p[0] for p in points], [p[1] for p in points], "o-", color=colours[trainer], label=trainer)
        axis.set_xscale("log")
        axis.set_xlabel("iterations")
        axis.set_title(f"{key}: {next(r[1] for r in rows if r[0] == key)}", fontsize=9)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
