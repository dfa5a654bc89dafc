"""A fourth task kind from outside the package: examples/plugins/multilabel_segmentation.py (overlapping structures,
one sigmoid channel each) through verify, plan_and_preprocess, train, predict, evaluate, report and check_plugins."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autoseg.evaluation import segmentation_metrics
from autoseg.io import Geometry, ImageData, read_image, write_image
from autoseg.preprocessing.storage import load_arrays
from tests.conftest import shrink_plans_file

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "examples" / "plugins"
DATASET = "Dataset950_Overlap"
GEOMETRY = Geometry((0.8, 0.7), (12.0, -30.0), (1.0, 0.0, 0.0, 1.0))


def overlapping_case(rng: np.random.Generator, shape=(64, 64)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An image with an organ (a bright disc) and a lesion (a brighter blob straddling the organ's edge, so part of
    it lies inside the organ): (image, organ mask, lesion mask)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    cy, cx, radius = rng.uniform(26, 38), rng.uniform(26, 38), rng.uniform(12, 17)
    organ = (yy - cy) ** 2 + (xx - cx) ** 2 < radius**2
    angle = rng.uniform(0, 2 * np.pi)
    ly, lx = cy + radius * np.sin(angle), cx + radius * np.cos(angle)
    lesion = (yy - ly) ** 2 + (xx - lx) ** 2 < rng.uniform(5, 7) ** 2
    body = (yy - 32) ** 2 / 30**2 + (xx - 32) ** 2 / 28**2 < 1
    image = 100 * body + 80 * organ + 120 * lesion + rng.normal(0, 8, shape)
    return image.astype(np.float32), organ.astype(np.uint8), lesion.astype(np.uint8)


def make_dataset(raw: Path, training: int = 8, test: int = 2) -> Path:
    root = raw / DATASET
    rng = np.random.default_rng(7)
    for split, count in (("Tr", training), ("Ts", test)):
        for index in range(count):
            case = f"overlap_{split.lower()}{index:03d}"
            image, organ, lesion = overlapping_case(rng)
            write_image(ImageData(image[None], GEOMETRY), root / f"images{split}" / f"{case}_0000.nii.gz")
            for structure, mask in enumerate((organ, lesion)):
                write_image(ImageData(mask[None], GEOMETRY), root / f"labels{split}" / f"{case}_{structure:04d}.nii.gz")
    spec = {
        "task": "multilabel",
        "channel_names": {"0": "MR"},
        "structures": {"0": "organ", "1": "lesion"},
        "numTraining": training,
        "file_ending": ".nii.gz",
    }
    (root / "dataset.json").write_text(json.dumps(spec))
    return root


def autoseg(folder: Path, *args: str) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "AUTOSEG_PLUGINS": "multilabel_segmentation",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PLUGINS), str(ROOT), os.environ.get("PYTHONPATH")])),
        "AUTOSEG_RAW": str(folder / "raw"),
        "AUTOSEG_PREPROCESSED": str(folder / "preprocessed"),
        "AUTOSEG_RESULTS": str(folder / "results"),
    }
    command = [sys.executable, "-m", "autoseg.cli", *args]
    return subprocess.run(command, cwd=folder, env=environment, capture_output=True, text=True, timeout=600)


def test_a_plugin_task_kind_runs_from_raw_data_to_the_report(tmp_path):
    root = make_dataset(tmp_path / "raw")
    organ, lesion = (read_image(root / "labelsTr" / f"overlap_tr000_{s:04d}.nii.gz").array[0] for s in (0, 1))
    assert (organ & lesion).any() and (lesion & ~organ).any()  # the structures overlap, neither holds the other

    planned = autoseg(tmp_path, "plan_and_preprocess", "-d", DATASET, "--verify", "-np", "1")
    assert planned.returncode == 0, planned.stderr
    preprocessed = tmp_path / "preprocessed" / DATASET
    shrink_plans_file(preprocessed / "plans.json", "2d")
    _, stored = load_arrays(preprocessed / "2d", next((preprocessed / "2d" / "cases").iterdir()).name)
    assert stored.shape[0] == 2 and set(np.unique(stored)) <= {0, 1}  # one mask per structure

    options = ["--epochs", "8", "--iterations_per_epoch", "10", "--validation_iterations", "2", "--num_workers", "0"]
    trained = autoseg(tmp_path, "train", DATASET, "2d", "0", *options)
    assert trained.returncode == 0, trained.stderr
    fold = tmp_path / "results" / DATASET / "default__plans__2d" / "fold_0"
    losses = [float(line.split("train loss ")[1].split()[0]) for line in (fold / "training_log.txt").read_text().splitlines()]
    assert len(losses) == 8 and losses[-1] < 0.8 * losses[0], losses
    validation = json.loads((fold / "validation" / "summary.json").read_text())
    assert set(validation["mean"]) == {"organ", "lesion"}

    output = tmp_path / "predictions"
    predicted = autoseg(tmp_path, "predict", "-d", DATASET, "-c", "2d", "-f", "0", "-i", str(root / "imagesTs"), "-o", str(output))
    assert predicted.returncode == 0, predicted.stderr
    assert "structure masks (2 per case)" in predicted.stdout
    for case in ("overlap_ts000", "overlap_ts001"):
        image = read_image(root / "imagesTs" / f"{case}_0000.nii.gz")
        for structure in (0, 1):
            mask = read_image(output / f"{case}_{structure:04d}.nii.gz")
            assert mask.geometry.differences(image.geometry) == [] and mask.spatial_shape == image.spatial_shape
            assert set(np.unique(mask.array)) <= {0, 1}

    uncertain = autoseg(
        tmp_path,
        "predict",
        "-d",
        DATASET,
        "-c",
        "2d",
        "-f",
        "0",
        "-i",
        str(root / "imagesTs"),
        "-o",
        str(tmp_path / "u"),
        "--save_uncertainty",
    )
    assert uncertain.returncode == 2 and "a multilabel model writes no uncertainty maps" in uncertain.stderr

    scored = autoseg(tmp_path, "evaluate", str(root / "labelsTs"), str(output))
    assert scored.returncode == 0, scored.stderr
    summary = json.loads((output / "summary.json").read_text())
    expected = segmentation_metrics(
        read_image(output / "overlap_ts001_0000.nii.gz").array[0],
        read_image(root / "labelsTs" / "overlap_ts001_0000.nii.gz").array[0],
        (0.8, 0.7),
    )
    assert summary["cases"]["overlap_ts001"]["organ"]["dice"] == pytest.approx(expected["dice"])
    assert summary["mean"]["organ"]["dice"] > 0.7, summary["mean"]  # a bright disc is learnt in 80 iterations
    assert "organ" in scored.stdout and "lesion" in scored.stdout and "HD95 and ASSD in mm" in scored.stdout

    refused = autoseg(tmp_path, "evaluate", str(root / "labelsTs"), str(output), "--baseline", str(root / "imagesTs"))
    assert refused.returncode == 2 and "--baseline does not apply to a multilabel dataset" in refused.stderr
    assert "--nsd_tolerance" in refused.stderr

    reported = autoseg(tmp_path, "report", str(output), "--reference", str(root / "labelsTs"))
    assert reported.returncode == 0, reported.stderr
    page = (output / "report.html").read_text()
    assert "Dice lesion" in page and "predicted organ (voxels)" in page
    assert page.count('<div class="viewer"') == len(list((root / "labelsTs").glob("*_0000.nii.gz")))  # a viewer per case


def test_a_plugin_task_kind_verifies_its_references_and_passes_the_contract_tests(tmp_path):
    root = make_dataset(tmp_path / "raw", training=3, test=0)
    bad = root / "labelsTr" / "overlap_tr001_0001.nii.gz"
    mask = read_image(bad)
    write_image(ImageData(mask.array * 2, mask.geometry), bad)  # a lesion mask holding 2
    verified = autoseg(tmp_path, "verify", "-d", DATASET)
    assert verified.returncode != 0 and "overlap_tr001_0001.nii.gz" in verified.stdout + verified.stderr

    checked = autoseg(tmp_path, "check_plugins")
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-2000:]
    assert "multilabel" in checked.stdout
