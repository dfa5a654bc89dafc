"""Plug-ins from outside the package: docs/extending.md's example run through the CLI, and failures named."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import shrink_plans_file

ROOT = Path(__file__).resolve().parents[1]


def plugin_source() -> str:
    """The complete plug-in of docs/extending.md (its python block that starts with the file's name)."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "extending.md").read_text(), re.S)
    return next(block for block in blocks if block.startswith("# my_autoseg_plugin.py"))


def autoseg(folder: Path, *args: str, plugins: str = "my_autoseg_plugin") -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "AUTOSEG_PLUGINS": plugins,
        "AUTOSEG_RAW": str(folder / "raw"),
        "AUTOSEG_PREPROCESSED": str(folder / "preprocessed"),
        "AUTOSEG_RESULTS": str(folder / "results"),
    }
    command = [sys.executable, "-m", "autoseg.cli", *args]
    return subprocess.run(command, cwd=folder, env=environment, capture_output=True, text=True, timeout=600)


def test_the_documented_plugin_plans_trains_and_predicts_through_the_cli(dataset_copy, tmp_path):
    raw = dataset_copy("spine", cases=5, test=1)  # tmp_path/raw/Dataset901_...
    (tmp_path / "my_autoseg_plugin.py").write_text(plugin_source())
    dataset = raw.name

    help_text = autoseg(tmp_path, "train", "--help")
    assert help_text.returncode == 0 and "adamw_cosine" in help_text.stdout and "AdamW from 3e-4" in help_text.stdout

    planned = autoseg(tmp_path, "plan_and_preprocess", "-d", dataset, "-pl", "se", "-np", "1")
    assert planned.returncode == 0, planned.stderr
    preprocessed = tmp_path / "preprocessed" / dataset
    plans = json.loads((preprocessed / "plans_se.json").read_text())
    assert plans["planner"] == "se" and plans["configurations"]["2d"]["architecture"]["network"] == "se_unet"
    assert (preprocessed / "se_2d").is_dir() and not (preprocessed / "2d").exists()
    shrink_plans_file(preprocessed / "plans_se.json", "2d")
    # the shrunk plans changed no preprocessing setting: the data stays valid

    trained = autoseg(
        tmp_path,
        "train",
        dataset,
        "2d",
        "0",
        "-p",
        "se",
        "-tr",
        "adamw_cosine",
        "--epochs",
        "2",
        "--iterations_per_epoch",
        "3",
        "--validation_iterations",
        "1",
        "--num_workers",
        "0",
    )
    assert trained.returncode == 0, trained.stderr
    fold = tmp_path / "results" / dataset / "adamw_cosine__plans_se__2d" / "fold_0"
    record = json.loads((fold / "training_settings.json").read_text())
    assert record["trainer"] == "adamw_cosine"
    assert record["settings"]["optimiser"] == "adamw" and record["settings"]["schedule"] == "cosine" and record["settings"]["epochs"] == 2
    log = (fold / "training_log.txt").read_text().splitlines()
    assert len(log) == 2

    predicted = autoseg(
        tmp_path,
        "predict",
        "-d",
        dataset,
        "-p",
        "se",
        "-tr",
        "adamw_cosine",
        "-c",
        "2d",
        "-i",
        str(raw / "imagesTs"),
        "-o",
        str(tmp_path / "predictions"),
    )
    assert predicted.returncode == 0, predicted.stderr
    assert "shortened training" in predicted.stderr  # 6 iterations cannot pass for the trainer's full run
    assert len(list((tmp_path / "predictions").glob("*.nii.gz"))) == 1


def test_a_plugin_that_fails_to_import_is_named(tmp_path):
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('half-written plug-in')\n")
    for plugins in ("broken_plugin", "no_such_plugin_module"):
        result = autoseg(tmp_path, "verify", "-d", "1", plugins=plugins)
        assert result.returncode == 2
        assert plugins in result.stderr and "failed to load" in result.stderr and "Traceback" not in result.stderr


def test_plugins_load_once_before_a_registry_is_read(tmp_path, monkeypatch):
    from autoseg import plugins
    from autoseg.networks import NETWORKS

    (tmp_path / "counting_plugin.py").write_text(
        "from autoseg.networks import Network, register_network\n"
        "from autoseg.networks.unet import Encoder\n"
        "@register_network\n"
        "class Counted(Network):\n"
        "    name = 'counted_unet'\n"
        "    def encoder(self, in_channels, architecture):\n"
        "        return Encoder(in_channels, architecture)\n"
        "    def encoder_feature_values(self, architecture, voxels, in_channels):\n"
        "        return 0\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUTOSEG_PLUGINS", "counting_plugin")
    monkeypatch.setattr(plugins, "_state", {"loaded": False, "loading": False, "error": None, "modules": []})
    try:
        assert "counted_unet" in NETWORKS.names()  # the read loaded it
        assert plugins.load_plugins() == ["counting_plugin"]  # and only once: no second import, no double registration
    finally:
        NETWORKS._items.pop("counted_unet", None)
        sys.modules.pop("counting_plugin", None)


if __name__ == "__main__":
    pytest.main([__file__])


SCHEDULE_PLUGINS = {
    "halving_schedule": '''
from autoseg.training import SCHEDULES


@SCHEDULES.register("step_halving")
def step_halving(settings, epoch):
    """Halves the rate every quarter of the run."""
    return settings.initial_lr * 0.5 ** (4 * epoch // settings.epochs)
''',
    "runaway_schedule": '''
from autoseg.training import SCHEDULES


@SCHEDULES.register("runaway")
def runaway(settings, epoch):
    """Grows the rate: it breaks the schedules' contract (within the initial rate, ending low)."""
    return settings.initial_lr * (1 + epoch)
''',
}


def test_check_plugins_runs_the_contract_tests_on_the_plugins_entries_only(tmp_path):
    for name, source in SCHEDULE_PLUGINS.items():
        (tmp_path / f"{name}.py").write_text(source)
    good = autoseg(tmp_path, "check_plugins", plugins="halving_schedule")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "contract tests of what halving_schedule registered" in good.stdout and "1 passed" in good.stdout  # not the built-ins
    bad = autoseg(tmp_path, "check_plugins", plugins="runaway_schedule")
    assert bad.returncode == 1 and "test_every_schedule_stays_within_the_initial_rate_and_ends_low[runaway]" in bad.stdout
    none = autoseg(tmp_path, "check_plugins", plugins="")
    assert none.returncode == 2 and "no plug-in is loaded" in none.stderr
