"""The Python API (autoseg.load_model, Model.predict): the same results as `autoseg predict` on the same files,
from arrays, SimpleITK and nibabel images and paths, for a 2D and a 3D stand-in and for classification."""

import csv
import json

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

import autoseg
from autoseg.cli import main
from autoseg.dataset import RawDataset
from autoseg.errors import AutosegError
from autoseg.io import read_image
from autoseg.sharing import export_model
from tests.conftest import preprocess_with_tiny_network, train
from tests.training.test_classification import make_dataset


def cli_predict(model_folder, inputs, output, *options) -> None:
    dataset = model_folder.parent
    assert main(["predict", "-i", str(inputs), "-o", str(output), "-d", str(dataset), "-tr", "short", "--device", "cpu", *options]) == 0


def test_predict_equals_autoseg_predict_on_a_2d_stand_in_from_every_input_type(spine, tmp_path):
    folder, dataset = spine
    cli_predict(folder, dataset.root / "imagesTs", tmp_path / "cli", "--save_probabilities")
    model = autoseg.load_model(folder, device="cpu")
    for case in dataset.cases("test"):
        expected = read_image(tmp_path / "cli" / f"{case.case_id}{dataset.spec.file_ending}")
        expected_probabilities = np.load(tmp_path / "cli" / f"{case.case_id}.npz")["probabilities"]
        images = [read_image(path) for path in case.image_files]
        array = np.concatenate([image.array for image in images])
        labels, probabilities = model.predict(array, spacing=images[0].geometry.spacing, probabilities=True)
        np.testing.assert_array_equal(labels, expected.array[0])
        np.testing.assert_allclose(probabilities, expected_probabilities, atol=1e-6)
        np.testing.assert_array_equal(model.predict([str(p) for p in case.image_files]), expected.array[0])
    assert len(np.unique(labels)) > 1  # the model segments something: the comparison is not of empty maps


def test_simpleitk_and_nibabel_inputs_come_back_as_images_on_their_grid(tmp_path, stand_in_cache, tmp_path_factory):
    root = tmp_path_factory.mktemp("api_brats")
    dataset = RawDataset(stand_in_cache("pet", 5, 1))
    fold = train(preprocess_with_tiny_network(dataset, root / "preprocessed" / dataset.name, "3d_fullres"), root / "results", "3d_fullres")
    cli_predict(fold.parent, dataset.root / "imagesTs", tmp_path / "cli")
    model = autoseg.load_model(fold.parent, device="cpu")
    [case] = dataset.cases("test")
    expected = read_image(tmp_path / "cli" / f"{case.case_id}{dataset.spec.file_ending}")

    itk_images = [sitk.ReadImage(str(path)) for path in case.image_files]
    predicted = model.predict(itk_images)
    assert isinstance(predicted, sitk.Image) and predicted.GetSize() == itk_images[0].GetSize()
    assert predicted.GetOrigin() == itk_images[0].GetOrigin() and predicted.GetDirection() == itk_images[0].GetDirection()
    np.testing.assert_allclose(sitk.GetArrayFromImage(predicted), expected.array[0], rtol=1e-5, atol=1e-5)

    nib_images = [nib.load(str(path)) for path in case.image_files]
    predicted = model.predict(nib_images)
    assert isinstance(predicted, nib.Nifti1Image) and np.allclose(predicted.affine, nib_images[0].affine)
    np.testing.assert_allclose(np.asarray(predicted.dataobj).transpose(2, 1, 0), expected.array[0], rtol=1e-5, atol=1e-5)

    # several cases streamed: the same as one at a time
    arrays = [(np.concatenate([read_image(p).array for p in case.image_files]), expected.geometry.spacing)] * 2
    for result in model.predict_many(arrays):
        np.testing.assert_allclose(result, expected.array[0], rtol=1e-5, atol=1e-5)


def test_classification_returns_the_class_and_probabilities_of_predictions_csv(tmp_path):
    dataset = make_dataset(tmp_path / "raw", cases=10, lesions=5, test=3)
    fold = train(preprocess_with_tiny_network(dataset, tmp_path / "preprocessed" / dataset.name, "2d"), tmp_path / "results", "2d")
    cli_predict(fold.parent, dataset.root / "imagesTs", tmp_path / "cli")
    rows = {row["case_id"]: row for row in csv.DictReader((tmp_path / "cli" / "predictions.csv").open())}
    model = autoseg.load_model(fold.parent, device="cpu")
    cases = dataset.cases("test")
    for case, result in zip(cases, model.predict_many([[str(p) for p in case.image_files] for case in cases])):
        row = rows[case.case_id]
        assert isinstance(result, autoseg.ClassPrediction) and result.label == row["prediction"]
        assert result.probabilities == pytest.approx({name: float(row[f"probability_{name}"]) for name in ("healthy", "lesion")}, abs=1e-6)


def test_a_model_loads_from_its_dataset_name_or_an_exported_zip(spine, tmp_path, monkeypatch):
    folder, dataset = spine
    case = dataset.cases("test")[0]
    expected = autoseg.load_model(folder, device="cpu").predict([str(p) for p in case.image_files])
    monkeypatch.setenv("AUTOSEG_RESULTS", str(folder.parent.parent))
    by_name = autoseg.load_model(folder.parent.name, trainer="short", device="cpu")
    np.testing.assert_array_equal(by_name.predict([str(p) for p in case.image_files]), expected)
    archive = export_model(folder.parent, tmp_path / "model.zip", trainer="short")
    from_zip = autoseg.load_model(archive, trainer="short", device="cpu")
    np.testing.assert_array_equal(from_zip.predict([str(p) for p in case.image_files]), expected)


def test_wrong_inputs_are_clear_errors(spine):
    folder, dataset = spine
    model = autoseg.load_model(folder, device="cpu")
    channels = dataset.spec.num_channels
    with pytest.raises(AutosegError, match="pass spacing="):
        model.predict(np.zeros((channels, 32, 32), np.float32))
    with pytest.raises(AutosegError, match=f"the image has 1 channel\\(s\\); the model needs {channels}"):
        model.predict(np.zeros((1, 32, 32), np.float32), spacing=(1.0, 1.0))
    with pytest.raises(AutosegError, match="the image is 3D; the model .* was trained on 2D images"):
        model.predict(np.zeros((channels, 4, 32, 32), np.float32), spacing=(1.0, 1.0, 1.0))
    with pytest.raises(AutosegError, match="spacing .* has 3 values; the array \\(C, \\*spatial\\) has 2 spatial axes"):
        model.predict(np.zeros((channels, 32, 32), np.float32), spacing=(1.0, 1.0, 1.0))
    with pytest.raises(AutosegError, match="predict takes a NumPy array"):
        model.predict(42)
    with pytest.raises(AutosegError, match="holds 1 trained configurations|has no trained 3d_fullres"):
        autoseg.load_model(folder.parent, "3d_fullres", trainer="short")


def test_predict_folder_through_the_model_writes_what_the_cli_writes(spine, tmp_path):
    folder, dataset = spine
    cli_predict(folder, dataset.root / "imagesTs", tmp_path / "cli")
    written = autoseg.load_model(folder, device="cpu").predict_folder(dataset.root / "imagesTs", tmp_path / "api")
    assert sorted(p.name for p in written) == sorted(p.name for p in (tmp_path / "cli").glob(f"*{dataset.spec.file_ending}"))
    for path in written:
        np.testing.assert_array_equal(read_image(path).array, read_image(tmp_path / "cli" / path.name).array)
    assert json.loads((tmp_path / "api" / "prediction.json").read_text())["folds"] == ["0"]
