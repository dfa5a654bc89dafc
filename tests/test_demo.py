"""`autoseg demo` end to end, with a one-epoch schedule in place of the demo's few minutes of training."""

import json
from dataclasses import replace

from autoseg.demo import DEMOS, run_demo


def quick(task):
    return replace(DEMOS[task], epochs=1, iterations=2, features=(4, 8, 16, 32))


def test_the_spine_demo_verifies_every_stand_in_and_reports_dice_per_muscle(tmp_path, capsys):
    assert run_demo(tmp_path / "raw", tmp_path / "preprocessed", tmp_path / "results", task="spine", recipe=quick("spine"))
    printed = capsys.readouterr().out
    assert printed.count("no problems found") == 6 and "demo finished." in printed
    labels = json.loads((tmp_path / "raw" / "Dataset901_LumbarSpineDixon" / "dataset.json").read_text())["labels"]
    table = printed[printed.index("Dice per muscle") :].splitlines()[1:-1]
    assert [row.split()[0] for row in table] == [name for name in labels if name != "background"]
    assert all(0 <= float(value) <= 1 for row in table for value in row.split()[1:])
    report = tmp_path / "results" / "Dataset901_LumbarSpineDixon" / "demo_predictions" / "report.html"
    assert f"QC report: {report}" in printed and report.read_text().count('<div class="viewer"') == 6  # the held-out cases


def test_the_pet_demo_reports_the_model_beside_the_low_dose_input(tmp_path, capsys):
    assert run_demo(tmp_path / "raw", tmp_path / "preprocessed", tmp_path / "results", task="pet", recipe=quick("pet"))
    printed = capsys.readouterr().out
    assert "no problems found" in printed and "demo finished." in printed
    rows = {
        line.split()[1]: [float(v) for v in line.split()[-4:]] for line in printed.splitlines() if line.startswith("  PET_standard_dose ")
    }
    assert set(rows) == {"PSNR", "SSIM", "NRMSE", "MAE"}
    # The input's scores come from the raw files; the barely trained model still predicts about its input.
    model, baseline = rows["PSNR"][2], rows["PSNR"][3]
    assert 15 < baseline < 45 and abs(model - baseline) < 1.0
    assert (tmp_path / "results" / "Dataset904_LowDosePET" / "demo_predictions" / "summary.json").is_file()
    assert "PSNR gain over input" in (tmp_path / "results" / "Dataset904_LowDosePET" / "demo_predictions" / "report.html").read_text()


def test_the_ad_demo_reports_the_classifier_beside_the_majority_class(tmp_path, capsys):
    assert run_demo(tmp_path / "raw", tmp_path / "preprocessed", tmp_path / "results", task="ad", recipe=quick("ad"))
    printed = capsys.readouterr().out
    rows = {
        line.split()[0]: [float(v) for v in line.split()[1:]]
        for line in printed.splitlines()
        if line.startswith("  ") and line.split()[0] in ("accuracy", "balanced_accuracy", "auc")
    }
    assert set(rows) == {"accuracy", "balanced_accuracy", "auc"}
    # Always answering one class: balanced accuracy and AUC at chance, on validation and on the test cases.
    assert rows["balanced_accuracy"][1] == rows["balanced_accuracy"][3] == 0.5 and rows["auc"][1] == rows["auc"][3] == 0.5
    table = tmp_path / "results" / "Dataset905_ADvsCN" / "demo_predictions" / "predictions.csv"
    assert len(table.read_text().splitlines()) == 1 + 10  # every held-out case
    assert "confusion matrix" in (table.parent / "report.html").read_text()
