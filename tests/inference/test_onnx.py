"""ONNX export and the onnxruntime backend: the labels agree with the torch backend's on at least 99.9 % of
voxels, on a 2D and a 3D stand-in, through the CLI and the Python API; a missing onnxruntime is a clear error."""

import json
import sys

import numpy as np
import pytest

import autoseg
from autoseg.cli import main
from autoseg.errors import AutosegError
from autoseg.io import read_image


def agreement(first, second) -> float:
    return float((np.asarray(first) == np.asarray(second)).mean())


def test_the_onnxruntime_backend_predicts_the_2d_stand_in_like_torch(spine, tmp_path, capsys):
    folder, dataset = spine
    assert main(["export_onnx", "-d", str(folder.parent), "-tr", "short", "-o", str(tmp_path / "onnx")]) == 0
    manifest = json.loads((tmp_path / "onnx" / "autoseg_onnx.json").read_text())
    assert manifest["configuration"] == "2d" and manifest["folds"] == ["0"] and (tmp_path / "onnx" / "fold_0.onnx").is_file()
    torch_model = autoseg.load_model(folder, device="cpu")
    onnx_model = autoseg.load_model(tmp_path / "onnx", backend="onnxruntime")
    for case in dataset.cases("test"):
        files = [str(path) for path in case.image_files]
        expected, predicted = torch_model.predict(files), onnx_model.predict(files)
        assert agreement(expected, predicted) >= 0.999 and len(np.unique(expected)) > 1
    # the CLI's backend flag: exported once into the model folder, the same files as the torch backend
    inputs, ending = dataset.root / "imagesTs", dataset.spec.file_ending
    for backend in ("torch", "onnxruntime"):
        arguments = ["predict", "-i", str(inputs), "-o", str(tmp_path / backend), "-d", str(folder.parent), "-tr", "short"]
        assert main([*arguments, "--backend", backend]) == 0
    assert (folder / "onnx" / "autoseg_onnx.json").is_file()
    for case in dataset.cases("test"):
        torch_labels = read_image(tmp_path / "torch" / f"{case.case_id}{ending}").array
        assert agreement(torch_labels, read_image(tmp_path / "onnxruntime" / f"{case.case_id}{ending}").array) >= 0.999


def test_the_onnxruntime_backend_predicts_a_3d_stand_in_like_torch(brats_model):
    folder, dataset = brats_model
    [case] = dataset.cases("test")
    files = [str(path) for path in case.image_files]
    expected = autoseg.load_model(folder, device="cpu").predict(files)
    predicted = autoseg.load_model(folder, backend="onnxruntime").predict(files)
    assert predicted.shape == expected.shape and agreement(expected, predicted) >= 0.999


def test_without_onnxruntime_the_backend_is_a_clear_error(spine, tmp_path, monkeypatch):
    folder, _ = spine
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(AutosegError, match=r"is not installed; .* pip install 'autoseg\[onnx\]'"):
        autoseg.load_model(folder, backend="onnxruntime")
    with pytest.raises(AutosegError, match="runs on the CPU here"):
        autoseg.load_model(folder, backend="onnxruntime", device="cuda")
