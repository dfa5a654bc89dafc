"""``autoseg demo``: the pipeline on built-in stand-in datasets, end to end as far as it is built."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

from autoseg.dataset import RawDataset, verify_dataset
from autoseg.networks import Architecture

# A CPU-sized network for the demo's two-minute training: the planned 2D network
# (32-512 features) needs hours on a CPU; this one learns the muscles in ~600 iterations.
DEMO_PATCH = [64, 64]
DEMO_FEATURES = [8, 16, 32, 64]
DEMO_EPOCHS, DEMO_ITERATIONS = 30, 20


def run_demo(raw_root: Path, preprocessed_root: Path, results_root: Path, seed: int = 0) -> bool:
    """Generates and verifies every stand-in, then plans, preprocesses and briefly trains the lumbar-spine one,
    predicts its held-out cases and scores them.

    Returns True if every dataset verified and training finished.
    """
    from autoseg.plan_and_preprocess import plan_and_preprocess
    from dataset_conversion.synthetic import generate_stand_in, stand_ins

    all_ok = True
    print(f"autoseg demo: stand-in datasets in {raw_root.resolve()}")
    for stand_in in stand_ins():
        start = time.perf_counter()
        folder = generate_stand_in(stand_in.key, raw_root, seed=seed, overwrite=True)
        report = verify_dataset(folder)
        all_ok &= report.ok
        print(f"[{time.perf_counter() - start:5.1f} s] {report.summary()}")
    if not all_ok:
        print("demo stopped: a dataset has problems (see above).")
        return False
    start = time.perf_counter()
    spine = RawDataset(raw_root / "Dataset901_LumbarSpineDixon")
    plans = plan_and_preprocess(spine, preprocessed_root / spine.name, overwrite=True)
    config = plans.configurations["2d"]
    print(f"[{time.perf_counter() - start:5.1f} s] planned and preprocessed {spine.name}: patch {config.patch_size}, "
          f"batch {config.batch_size}, {config.architecture.num_stages} stages, mirroring only along axes {config.mirror_axes} "
          "(never across the patient's left-right axis, which would swap the paraspinal muscles)")
    model_dir, summary = _train_briefly(preprocessed_root / spine.name, results_root, plans)
    test = _predict_held_out(model_dir, spine.root, results_root / spine.name / "demo_predictions")
    print("Dice per muscle      fold-0 validation   held-out test cases")
    for name, values in summary["mean"].items():
        print(f"  {name:<20} {values['dice']:>12.3f} {test['mean'][name]['dice']:>18.3f}")
    print("demo finished.")
    return True


def _predict_held_out(model_dir: Path, raw: Path, output: Path) -> dict:
    """Predicts the stand-in's imagesTs with the demo model, scores them against labelsTs, draws one overlay."""
    from autoseg.evaluation.folders import evaluate_folders
    from autoseg.evaluation.overlay import save_overlay
    from autoseg.inference.predictor import load_trained_model, predict_folder
    from autoseg.device import pick_device

    start = time.perf_counter()
    device = pick_device()
    model = load_trained_model(model_dir, device=device)
    written = predict_folder(model, raw / "imagesTs", output, device)
    summary = evaluate_folders(raw / "labelsTs", output)
    ending = model.spec.file_ending
    case_id = written[0].name[: -len(ending)]
    overlay = output / "overlay.png"
    save_overlay(raw / "imagesTs" / f"{case_id}_0000{ending}", written[0], overlay, raw / "labelsTs" / written[0].name, title=f"{case_id}: the demo model's prediction")
    print(f"[{time.perf_counter() - start:5.1f} s] predicted {len(written)} held-out cases into {output} (autoseg predict); overlay of {case_id}: {overlay}")
    return summary


def _train_briefly(preprocessed: Path, results_root: Path, plans) -> tuple[Path, dict]:
    """Trains fold 0 of a demo-sized copy of the 2d plan (plans_demo.json) with the short trainer."""
    from autoseg.training import TRAINERS, model_folder, train_fold

    config = plans.configurations["2d"]
    stages = len(DEMO_FEATURES)
    small = replace(config, patch_size=DEMO_PATCH, batch_size=4, architecture=Architecture(DEMO_FEATURES, config.architecture.kernel_sizes[:stages], config.architecture.strides[:stages]))
    demo_plans = replace(plans, configurations={"2d": small})
    demo_plans.save(preprocessed / "plans_demo.json")
    shutil.rmtree(model_folder(results_root, preprocessed.name, "short", "plans_demo", "2d"), ignore_errors=True)
    start = time.perf_counter()
    settings = replace(TRAINERS.get("short"), epochs=DEMO_EPOCHS, iterations_per_epoch=DEMO_ITERATIONS, validation_iterations=4)
    output = train_fold(preprocessed, results_root, "2d", "0", plans_file="plans_demo.json", settings=settings, trainer="short")
    print(f"[{time.perf_counter() - start:5.1f} s] trained {DEMO_EPOCHS} x {DEMO_ITERATIONS} iterations; curves in {output / 'progress.png'}")
    return output.parent, json.loads((output / "validation" / "summary.json").read_text())
