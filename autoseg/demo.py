"""``autoseg demo``: the whole pipeline on a built-in stand-in dataset, in minutes on a CPU.

``--task spine`` (the default) generates and verifies every stand-in, then
plans, preprocesses and briefly trains the lumbar-spine muscle segmentation;
``--task pet`` does the same for low-dose to standard-dose PET, ``--task ad``
for Alzheimer's disease vs cognitively normal from PET and MRI. Each trains
fold 0 of a CPU-sized copy of the planned configuration (``plans_demo.json``:
the planned network needs hours on a CPU), predicts the held-out cases with
``autoseg predict``'s code, scores them beside a baseline (regression: the
low-dose input; classification: always answering the majority class) and writes
their QC report (``autoseg report``: a page to open in a browser).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

from autoseg.dataset import RawDataset, verify_dataset
from autoseg.networks import Architecture
from autoseg.tasks import task_for


@dataclass(frozen=True)
class DemoRecipe:
    """What a demo trains: a stand-in, one configuration shrunk to a CPU-sized network, and how long (the
    default trainer plans the optimisation for that budget, as for any user's run)."""

    stand_in: str
    configuration: str
    patch_size: tuple[int, ...] | None  # None: as planned (a classifier's input size is fixed by preprocessing)
    features: tuple[int, ...]
    batch_size: int | None  # None: as planned
    epochs: int
    iterations: int
    why: str  # what the numbers were measured to give
    test_references: str = "labelsTs"  # where the stand-in keeps the held-out cases' references
    score_inputs: bool = False  # also score the inputs the model improves on (regression's low-dose image)


DEMOS = {
    "spine": DemoRecipe(
        "spine", "2d", (64, 64), (8, 16, 32, 64), 4, 30, 20, "600 iterations (about 40 s on 2 cores): held-out Dice 0.93, 0.96, 0.90"
    ),
    "pet": DemoRecipe(
        "pet",
        "3d_fullres",
        (32, 32, 32),
        (8, 16, 32, 64),
        2,
        25,
        20,
        "500 iterations (about two minutes on 2 cores) lift PSNR about 4 dB above the low-dose input",
        score_inputs=True,
    ),
    "ad": DemoRecipe(
        "ad",
        "3d_fullres",
        None,
        (8, 16, 32, 64),
        None,
        20,
        10,
        "200 iterations (about three minutes on 2 cores): held-out balanced accuracy 0.9, AUC 1.0; the majority class scores 0.5",
        test_references="labelsTs.csv",
    ),
}


def run_demo(
    raw_root: Path, preprocessed_root: Path, results_root: Path, *, seed: int = 0, task: str = "spine", recipe: DemoRecipe | None = None
) -> bool:
    """Runs the demo of ``task`` (a key of DEMOS; ``recipe`` overrides its settings, for tests).

    Returns True if the datasets verified and training finished.
    """
    from autoseg.plan_and_preprocess import plan_and_preprocess
    from dataset_conversion.synthetic import generate_stand_in, stand_ins

    recipe = recipe or DEMOS[task]
    keys = [s.key for s in stand_ins() if s.in_demo] if task == "spine" else [recipe.stand_in]
    print(f"autoseg demo ({task}): stand-in datasets in {raw_root.resolve()}")
    folders = {}
    for key in keys:
        start = time.perf_counter()
        folders[key] = generate_stand_in(key, raw_root, seed=seed, overwrite=True)
        report = verify_dataset(folders[key])
        print(f"[{time.perf_counter() - start:5.1f} s] {report.summary()}")
        if not report.ok:
            print("demo stopped: a dataset has problems (see above).")
            return False
    start = time.perf_counter()
    dataset = RawDataset(folders[recipe.stand_in])
    plans = plan_and_preprocess(dataset, preprocessed_root / dataset.name, configurations=[recipe.configuration], overwrite=True)
    config = plans.configurations[recipe.configuration]
    print(
        f"[{time.perf_counter() - start:5.1f} s] planned and preprocessed {dataset.name}: {recipe.configuration} patch "
        f"{config.patch_size}, "
        f"batch {config.batch_size}, {config.architecture.num_stages} stages, mirroring along axes {config.mirror_axes}"
    )
    if task == "spine":
        print("  (never across the patient's left-right axis, which would swap the paraspinal muscles)")
    if plans.input_skips:
        print(
            "  the network learns a correction of the low-dose input (input_skips in plans.json): before training it predicts "
            "the input itself"
        )
    model_dir, validation = _train_briefly(preprocessed_root / dataset.name, results_root, plans, recipe)
    test = _predict_held_out(model_dir, dataset.root, results_root / dataset.name / "demo_predictions", recipe)
    print(task_for(dataset.spec).held_out_text(validation, test, dataset.cases("train")))
    print("demo finished.")
    return True


def _predict_held_out(model_dir: Path, raw: Path, output: Path, recipe: DemoRecipe) -> dict:
    """Predicts the stand-in's imagesTs with the demo model, scores them against the references (for regression also
    the inputs) and writes the QC report of the predictions (``autoseg report``)."""
    from autoseg.device import pick_device
    from autoseg.workflows.evaluation import evaluate_folders
    from autoseg.workflows.prediction import load_trained_model, predict_folder
    from autoseg.workflows.report import build_report

    start = time.perf_counter()
    device = pick_device()
    model = load_trained_model(model_dir, device=device)
    predict_folder(model, raw / "imagesTs", output, device=device)
    references = raw / recipe.test_references
    summary = evaluate_folders(references, output, baseline_dir=raw / "imagesTs" if recipe.score_inputs else None)
    report = build_report(output, reference=references)
    count = len(summary["cases"])
    print(f"[{time.perf_counter() - start:5.1f} s] predicted {count} held-out cases into {output} (autoseg predict); QC report: {report}")
    return summary


def demo_sized_plans(plans, recipe: DemoRecipe):
    """The plans with only the recipe's configuration, cut to its CPU-sized network, patch and batch."""
    name = recipe.configuration
    config = plans.configurations[name]
    stages = len(recipe.features)
    architecture = Architecture(list(recipe.features), config.architecture.kernel_sizes[:stages], config.architecture.strides[:stages])
    small = replace(
        config,
        architecture=architecture,
        patch_size=list(recipe.patch_size or config.patch_size),
        batch_size=recipe.batch_size or config.batch_size,
    )
    return replace(plans, configurations={name: small})


def _train_briefly(preprocessed: Path, results_root: Path, plans, recipe: DemoRecipe) -> tuple[Path, dict]:
    """Trains fold 0 of a demo-sized copy of the planned configuration (plans_demo.json) with the default trainer."""
    from autoseg.training import model_folder, train_fold, trainer_settings

    name = recipe.configuration
    demo_sized_plans(plans, recipe).save(preprocessed / "plans_demo.json")
    shutil.rmtree(model_folder(results_root, preprocessed.name, "default", "plans_demo", name), ignore_errors=True)
    start = time.perf_counter()
    settings = replace(trainer_settings("default"), epochs=recipe.epochs, iterations_per_epoch=recipe.iterations, validation_iterations=4)
    output = train_fold(preprocessed, results_root, name, fold="0", plans_file="plans_demo.json", settings=settings)
    print(
        f"[{time.perf_counter() - start:5.1f} s] trained {recipe.epochs} x {recipe.iterations} iterations; curves in "
        f"{output / 'progress.png'}"
    )
    return output.parent, json.loads((output / "validation" / "summary.json").read_text())
