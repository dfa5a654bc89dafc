"""The residual-encoder presets: planned as data next to the default planner's plans, trained and used to predict
without touching the default's files; training refuses data preprocessed under other plans."""

import json
from dataclasses import fields

import numpy as np

from autoseg.cli import main
from autoseg.io import read_image
from planners import DEFAULT, get_planner
from tests.conftest import shrink_plans_file


def test_presets_are_the_default_planner_with_a_residual_encoder_and_their_memory_target():
    for name, target in (("resenc_m", 8.0), ("resenc_l", 24.0), ("resenc_xl", 40.0)):
        preset = get_planner(name)
        changed = {f.name for f in fields(preset) if getattr(preset, f.name) != getattr(DEFAULT, f.name)}
        assert changed == {
            "name",
            "network",
            "block",
            "blocks_per_stage",
            "decoder_convs_per_stage",
            "max_batch_fraction",
            "memory_target_gb",
        }
        assert preset.memory_target_gb == target and preset.blocks_per_stage[:6] == (1, 3, 4, 6, 6, 6)
        assert preset.plans_file == f"plans_{name}.json" and preset.data_identifier("3d_fullres") == f"{name}_3d_fullres"
    assert DEFAULT.plans_file == "plans.json" and DEFAULT.data_identifier("3d_fullres") == "3d_fullres"


def test_a_larger_memory_target_plans_larger_batches_or_patches():
    """On a BraTS-sized dataset (400 cases of 140 x 170 x 140 voxels, 4 channels), as nnU-Net's presets do."""
    from autoseg.dataset import DatasetSpec
    from autoseg.fingerprint import CaseFingerprint, Fingerprint, IntensityStatistics

    channels = {str(i): name for i, name in enumerate(("T1", "T1ce", "T2", "FLAIR"))}
    cases = [CaseFingerprint(f"c{i}", [1.0, 1.0, 1.0], [140, 170, 140], [140, 170, 140]) for i in range(400)]
    statistics = {index: IntensityStatistics(0.0, 1.0, 0.0, -1.0, 1.0, -2.0, 2.0, 100) for index in channels}
    fingerprint = Fingerprint("brats", "segmentation", channels, cases, statistics)
    labels = {"background": 0, "a": 1, "b": 2, "c": 3}
    spec = DatasetSpec.from_json({"channel_names": channels, "labels": labels, "numTraining": 400, "file_ending": ".nii.gz"})
    sizes = []
    for name in ("resenc_m", "resenc_l", "resenc_xl"):
        config = get_planner(name)(fingerprint, spec).configurations["3d_fullres"]
        assert config.architecture.network == "resenc_unet" and config.architecture.n_conv_per_stage_decoder == 1
        assert config.estimated_memory_gb <= get_planner(name).memory_target_gb
        sizes.append(np.prod(config.patch_size) * config.batch_size)
    assert sizes[0] <= sizes[1] <= sizes[2] and sizes[0] < sizes[2]


def snapshot(folder):
    return {p.relative_to(folder): (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_resenc_m_plans_trains_and_predicts_beside_the_default_plans_without_touching_them(dataset_copy, tmp_path, capsys):
    raw = dataset_copy("spine", cases=5, test=1)
    roots = ["--raw", str(tmp_path / "raw"), "--preprocessed", str(tmp_path / "preprocessed")]
    assert main(["plan_and_preprocess", "-d", raw.name, "-np", "1", *roots]) == 0
    preprocessed = tmp_path / "preprocessed" / raw.name
    default_files = snapshot(preprocessed / "2d") | {"plans.json": (preprocessed / "plans.json").read_bytes()}

    assert main(["plan_and_preprocess", "-d", raw.name, "-np", "1", "-pl", "resenc_m", *roots]) == 0
    plans = json.loads((preprocessed / "plans_resenc_m.json").read_text())
    config = plans["configurations"]["2d"]
    assert plans["planner"] == "resenc_m" and config["data_identifier"] == "resenc_m_2d"
    assert config["architecture"]["network"] == "resenc_unet" and config["architecture"]["block"] == "basic_d"
    assert snapshot(preprocessed / "2d") | {"plans.json": (preprocessed / "plans.json").read_bytes()} == default_files

    shrink_plans_file(preprocessed / "plans_resenc_m.json", "2d")
    train = ["train", raw.name, "2d", "0", "-p", "resenc_m", "--epochs", "1", "--iterations_per_epoch", "2"]
    train += ["--validation_iterations", "1", "--num_workers", "0", "--preprocessed", roots[3], "--results", str(tmp_path / "results")]
    assert main(train) == 0
    model = tmp_path / "results" / raw.name / "default__plans_resenc_m__2d"
    assert (model / "fold_0" / "checkpoint_final.pt").is_file()
    assert json.loads((model / "plans.json").read_text())["planner"] == "resenc_m"

    output = tmp_path / "predictions"
    predict = ["predict", "-d", raw.name, "-p", "plans_resenc_m.json", "-c", "2d", "-i", str(raw / "imagesTs"), "-o", str(output)]
    assert main([*predict, "--results", str(tmp_path / "results")]) == 0
    (image,) = sorted((raw / "imagesTs").glob("*_0000.nii.gz"))
    (prediction,) = sorted(output.glob("*.nii.gz"))
    source, predicted = read_image(image), read_image(prediction)
    assert predicted.array.shape[1:] == source.array.shape[1:] and not predicted.geometry.differences(source.geometry)
    assert snapshot(preprocessed / "2d") | {"plans.json": (preprocessed / "plans.json").read_bytes()} == default_files

    # plans re-planned after preprocessing (another spacing) no longer describe the data: training refuses it
    plans = json.loads((preprocessed / "plans_resenc_m.json").read_text())
    plans["configurations"]["2d"]["spacing"] = [s * 2 for s in plans["configurations"]["2d"]["spacing"]]
    (preprocessed / "plans_resenc_m.json").write_text(json.dumps(plans))
    capsys.readouterr()
    assert main([*train[:3], "1", *train[4:]]) == 2
    error = capsys.readouterr().err
    assert "resenc_m_2d was not preprocessed with the plans of planner 'resenc_m'" in error and "autoseg preprocess" in error
