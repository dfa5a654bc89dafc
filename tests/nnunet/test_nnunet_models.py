"""nnU-Net v2 models, used as they are and imported: the labels nnU-Net itself predicted for the same model folders
and images (tests/data/nnunet/, written by make_references.py) are what autoseg must predict."""

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

import autoseg
from autoseg.cli import main
from autoseg.errors import AutosegError
from autoseg.io import read_image
from autoseg.nnunet import read_nnunet_checkpoint
from tests.nnunet.folders import SCENARIOS, write_images, write_model

REFERENCES = Path(__file__).resolve().parents[1] / "data" / "nnunet"


def scenario_folders(tmp_path: Path, key: str) -> tuple[Path, Path]:
    """(the model folder to predict with, the images), written as nnU-Net writes them."""
    scenario = SCENARIOS[key]
    models = write_model(scenario, tmp_path / "nnUNet_results")
    write_images(scenario, tmp_path / "images")
    return models[list(models)[-1]], tmp_path / "images"


def assert_like_nnunet(predictions: Path, key: str) -> None:
    """Each label map equals nnU-Net's but for voxels where nnU-Net's float16 accumulation tips a near tie."""
    references = sorted((REFERENCES / key).glob("*.nii.gz"))
    assert references
    for reference in references:
        expected, predicted = read_image(reference), read_image(predictions / reference.name)
        assert predicted.spatial_shape == expected.spatial_shape
        assert not predicted.geometry.differences(expected.geometry)
        a, b = expected.array[0], predicted.array[0]
        assert (a == b).mean() >= 0.998, f"{reference.name}: {(a != b).sum()} voxels differ"
        for label in np.unique(a)[1:]:
            dice = 2 * ((a == label) & (b == label)).sum() / ((a == label).sum() + (b == label).sum())
            assert dice >= 0.98, f"{reference.name}: label {label} Dice {dice:.3f}"


@pytest.mark.parametrize("key", list(SCENARIOS))
def test_predict_with_an_nnunet_model_folder_gives_nnunets_labels(tmp_path, key):
    model, images = scenario_folders(tmp_path, key)
    before = {path: path.stat().st_mtime for path in model.parent.rglob("*")}
    command = [
        "predict",
        "-i",
        str(images),
        "-o",
        str(tmp_path / "out"),
        "-m",
        str(model),
        "-device",
        "cpu",
        "-chk",
        "checkpoint_final.pth",
    ]
    assert main(command) == 0
    assert_like_nnunet(tmp_path / "out", key)
    assert {path: path.stat().st_mtime for path in model.parent.rglob("*")} == before  # nnU-Net's folders are only read


def test_an_imported_model_is_an_autoseg_model_for_every_command(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    model, images = scenario_folders(tmp_path, "transposed")
    results = tmp_path / "autoseg_results"
    crossval = model / "crossval_results_folds_0_1_2_3_4"
    crossval.mkdir()
    steps = {"postprocessing_fns": ["remove_all_but_largest_component_from_segmentation"] * 2, "postprocessing_kwargs": []}
    steps["postprocessing_kwargs"] = [{"labels_or_regions": [1, 2], "background_label": 0}, {"labels_or_regions": 2}]
    (crossval / "postprocessing.json").write_text(json.dumps(steps))
    assert main(["import_nnunet", str(model), "-d", "42", "--results", str(results)]) == 0
    dataset = results / "Dataset042_Transposed"
    assert (dataset / "default__plans__3d_fullres" / "fold_0" / "checkpoint_final.pt").is_file()
    assert json.loads((dataset / "postprocessing.json").read_text())["largest_component_per_label"] == [2]
    assert json.loads((dataset / "postprocessing.json").read_text())["foreground_largest_component"] is True
    monkeypatch.setenv("AUTOSEG_RESULTS", str(results))
    assert main(["predict", "-d", "42", "-c", "3d_fullres", "-i", str(images), "-o", str(tmp_path / "out"), "--device", "cpu"]) == 0
    assert_like_nnunet(tmp_path / "out", "transposed")
    assert main(["import_nnunet", str(model), "-d", "42", "--results", str(results)]) == 2  # refuses to overwrite
    uncertainty = ["-i", str(images), "-o", str(tmp_path / "uncertain"), "--save_uncertainty", "--device", "cpu"]
    assert main(["predict", "-d", "42", "-c", "3d_fullres", *uncertainty]) == 0
    assert len(list((tmp_path / "uncertain" / "uncertainty" / "entropy").glob("*.nii.gz"))) == 2
    assert main(["export_model", "42", "-o", str(tmp_path / "model.zip"), "--results", str(results)]) == 0
    onnx = ["--backend", "onnxruntime", "-i", str(images), "-o", str(tmp_path / "onnx")]
    assert main(["predict", "-d", "42", "-c", "3d_fullres", *onnx]) == 0
    for path in sorted((tmp_path / "out").glob("*.nii.gz")):
        torch_labels, onnx_labels = read_image(path).array, read_image(tmp_path / "onnx" / path.name).array
        assert (torch_labels == onnx_labels).mean() >= 0.999


def test_the_python_api_takes_an_nnunet_model_folder(tmp_path):
    model, images = scenario_folders(tmp_path, "regions_2d")
    loaded = autoseg.load_model(model, device="cpu")
    case = "regions2d_000"
    channels = [sitk.ReadImage(str(images / f"{case}_{c:04d}.nii.gz")) for c in range(2)]
    labels = sitk.GetArrayFromImage(loaded.predict(channels))
    reference = read_image(REFERENCES / "regions_2d" / f"{case}.nii.gz").array[0]
    assert (labels == reference).mean() >= 0.998
    assert loaded.trained.configuration.mirror_axes == [0, 1]  # from the checkpoint


def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    model, images = scenario_folders(tmp_path, "images_2d")
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    checkpoint = model / "fold_0" / "checkpoint_final.pth"
    state = torch.load(checkpoint, weights_only=False)
    state["logging"]["extra"] = Payload()
    torch.save(state, checkpoint)
    with pytest.raises(AutosegError, match="could run code") as error:
        read_nnunet_checkpoint(checkpoint)
    assert "system" in str(error.value)
    assert main(["predict", "-i", str(images), "-o", str(tmp_path / "out"), "-m", str(model)]) == 2
    assert not marker.exists()
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.nii.gz"))
    plain = tmp_path / "plain.pth"
    plain.write_bytes(pickle.dumps({"network_weights": {}}))  # not a torch zip at all
    with pytest.raises(AutosegError, match="not a readable nnU-Net checkpoint"):
        read_nnunet_checkpoint(plain)


def test_a_network_autoseg_does_not_build_as_nnunet_does_is_refused_by_name(tmp_path):
    model, images = scenario_folders(tmp_path, "images_2d")
    plans = json.loads((model / "plans.json").read_text())
    plans["configurations"]["2d"]["architecture"]["arch_kwargs"]["norm_op"] = "torch.nn.BatchNorm2d"
    (model / "plans.json").write_text(json.dumps(plans))
    with pytest.raises(AutosegError, match="norm_op torch.nn.BatchNorm2d"):
        autoseg.load_model(model, device="cpu")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["architecture"].pop("arch_kwargs"), "cannot be read \\(KeyError: 'arch_kwargs'\\)"),
        (lambda c: c["architecture"]["arch_kwargs"].update(features_per_stage=[4096, 8192, 16384]), "needs about .* GB"),
        (lambda c: c.update(normalization_schemes=["MyNormalization"]), "normalised with MyNormalization"),
    ],
)
def test_plans_that_cannot_be_converted_are_refused_before_a_network_is_built(tmp_path, edit, message):
    model, _ = scenario_folders(tmp_path, "images_2d")
    plans = json.loads((model / "plans.json").read_text())
    edit(plans["configurations"]["2d"])
    (model / "plans.json").write_text(json.dumps(plans))
    with pytest.raises(AutosegError, match=message):
        autoseg.load_model(model, device="cpu")
