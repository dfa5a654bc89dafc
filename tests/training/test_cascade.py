"""The cascade on the BraTS stand-in planned at twice its resolution for a small GPU (so that 3d_lowres exists): plans,
out-of-fold low-resolution predictions for every training case, a cascade fold that trains on them, and prediction in
the input geometry."""

import json
import shutil
import zipfile

import numpy as np
import pytest

import autoseg
from autoseg.cli import main
from autoseg.data.previous_stage import perturb
from autoseg.dataset import RawDataset
from autoseg.errors import AutosegError
from autoseg.io import read_image
from autoseg.plans import Plans
from autoseg.preprocessing.storage import load_arrays
from autoseg.sharing import export_model

TINY = ["--epochs", "1", "--iterations_per_epoch", "2", "--validation_iterations", "1", "--num_workers", "0", "--device", "cpu"]


@pytest.fixture(scope="module")
def cascade(stand_in_cache, tmp_path_factory):
    root = tmp_path_factory.mktemp("cascade")
    source = stand_in_cache("brats", 5, 1)
    shutil.copytree(source, root / "raw" / source.name)
    paths = ["--raw", str(root / "raw"), "--preprocessed", str(root / "preprocessed")]
    planning = ["--gpu_memory_gb", "0.1", "--target_spacing", "1.5", "1.5", "1.5"]  # 3 mm data planned at 1.5 mm
    assert main(["plan_and_preprocess", "-d", source.name, *planning, "-c", "3d_fullres", "3d_lowres", "-np", "1", *paths]) == 0
    plans_file = root / "preprocessed" / source.name / "plans.json"
    plans = json.loads(plans_file.read_text())
    for config in plans["configurations"].values():  # a CPU-sized network
        config["architecture"]["features_per_stage"] = [4 * 2**s for s in range(len(config["architecture"]["features_per_stage"]))]
    plans_file.write_text(json.dumps(plans))
    return root, RawDataset(root / "raw" / source.name)


def train(root, dataset, configuration, *folds) -> int:
    common = ["--preprocessed", str(root / "preprocessed"), "--results", str(root / "results")]
    return main(["train", dataset.name, configuration, *folds, *common, *TINY])


def test_the_cascade_plans_trains_on_out_of_fold_predictions_and_predicts_in_the_input_geometry(cascade, tmp_path, capsys):
    root, dataset = cascade
    plans = Plans.load(root / "preprocessed" / dataset.name / "plans.json")
    lowres, fullres = plans.configuration("3d_lowres"), plans.configuration("3d_fullres")
    refine = plans.configuration("3d_cascade_fullres")
    assert refine.previous_stage == "3d_lowres" and refine.spacing == fullres.spacing and refine.data_identifier == fullres.data_identifier
    assert np.prod(lowres.median_shape) <= 0.5 * np.prod(fullres.median_shape)

    assert train(root, dataset, "3d_lowres", "0", "1", "2", "3") == 0
    assert train(root, dataset, "3d_cascade_fullres", "0") == 2  # one case has no out-of-fold prediction yet
    assert "1 case(s) have none" in capsys.readouterr().err
    assert train(root, dataset, "3d_lowres", "4") == 0
    lowres_model = root / "results" / dataset.name / "default__plans__3d_lowres"
    stored = sorted(p.stem for p in lowres_model.glob("fold_*/predicted_next_stage/3d_cascade_fullres/*.npz"))
    assert stored == sorted(case.case_id for case in dataset.cases())  # every training case, out of fold
    first = next(lowres_model.glob("fold_0/predicted_next_stage/3d_cascade_fullres/*.npz"))
    data, _ = load_arrays(root / "preprocessed" / dataset.name / fullres.data_identifier, first.stem)
    assert np.load(first)["labels"].shape == data.shape[1:]  # on the full-resolution grid

    assert train(root, dataset, "3d_cascade_fullres", "0") == 0
    fold = root / "results" / dataset.name / "default__plans__3d_cascade_fullres" / "fold_0"
    assert json.loads((fold / "validation" / "summary.json").read_text())["mean"]

    inputs = dataset.root / "imagesTs"

    def predict(output, *options) -> int:
        common = ["-d", dataset.name, "--results", str(root / "results"), "-f", "0", "--device", "cpu", "--disable_tta"]
        return main(["predict", "-i", str(inputs), "-o", str(tmp_path / output), "-c", "3d_cascade_fullres", *common, *options])

    assert predict("run") == 0
    [case] = dataset.cases("test")
    predicted = read_image(tmp_path / "run" / f"{case.case_id}.nii.gz")
    image = read_image(case.image_files[0])
    assert predicted.spatial_shape == image.spatial_shape and predicted.geometry == image.geometry
    first_file = tmp_path / "run" / "3d_lowres" / f"{case.case_id}.nii.gz"
    assert first_file.is_file()  # the first stage's own prediction
    written = first_file.stat().st_mtime_ns
    assert predict("run", "--continue_prediction") == 0 and first_file.stat().st_mtime_ns == written  # resumed: both stages
    assert predict("part", "--num_parts", "2", "--part_id", "1") == 0  # the other part: no case, not even in the first stage
    assert not list((tmp_path / "part").rglob("*.nii.gz"))
    # given first-stage predictions (NIfTI files) are found whatever the output format
    assert predict("given", "--prev_stage_predictions", str(first_file.parent), "--output_format", ".mha") == 0
    np.testing.assert_array_equal(read_image(tmp_path / "given" / f"{case.case_id}.mha").array, predicted.array)
    assert predict("nrrd", "--output_format", ".nrrd") == 0  # the first stage's label files in the output's format
    assert (tmp_path / "nrrd" / "3d_lowres" / f"{case.case_id}.nrrd").is_file()
    np.testing.assert_array_equal(read_image(tmp_path / "nrrd" / f"{case.case_id}.nrrd").array, predicted.array)

    # the Python API predicts the first stage in memory, as predict does into files: the same labels
    images = [str(path) for path in case.image_files]
    model = autoseg.load_model(fold.parent, device="cpu")
    assert model.previous.trained.configuration.name == "3d_lowres" and model.previous.folds == ["0"]
    np.testing.assert_array_equal(model.predict(images, mirroring=False), predicted.array[0])
    first = read_image(first_file).array[0]
    np.testing.assert_array_equal(model.previous.predict(images, mirroring=False), first)
    assert len(np.unique(first)) > 1 and len(np.unique(predicted.array)) > 1  # not empty maps compared with empty maps
    autoseg.load_model(fold.parent, backend="onnxruntime")  # both stages exported, each into its folder
    assert (fold.parent / "onnx").is_dir() and (lowres_model / "onnx").is_dir()
    assert predict("onnx", "--backend", "onnxruntime") == 0  # both stages predicted in onnxruntime
    assert (read_image(tmp_path / "onnx" / f"{case.case_id}.nii.gz").array == predicted.array).mean() >= 0.999
    one_stage = autoseg.load_model(fold.parent / "onnx", backend="onnxruntime")  # a bare export of the cascade alone
    with pytest.raises(AutosegError, match="this ONNX export holds no 3d_lowres model"):
        one_stage.predict(images)
    with pytest.raises(AutosegError, match="this ONNX export holds no 3d_lowres model"):
        one_stage.predict_folder(inputs, tmp_path / "one_stage")
    one_stage.predict_folder(inputs, tmp_path / "one_stage", previous_stage_dir=first_file.parent, mirroring=False)  # stage given
    assert (read_image(tmp_path / "one_stage" / f"{case.case_id}.nii.gz").array == predicted.array).mean() >= 0.999

    archive = export_model(root / "results" / dataset.name, tmp_path / "cascade.zip", configurations=["3d_cascade_fullres"], folds=["0"])
    names = zipfile.ZipFile(archive).namelist()
    for stage in ("3d_cascade_fullres", "3d_lowres"):  # the cascade travels with the stage it refines
        assert f"{dataset.name}/default__plans__{stage}/fold_0/checkpoint_final.pt" in names
    [labels] = autoseg.load_model(archive, "3d_cascade_fullres", device="cpu").predict_many([images], mirroring=False)
    np.testing.assert_array_equal(labels, predicted.array[0])


def test_the_previous_stage_is_perturbed_label_by_label_and_keeps_its_values():
    labels = np.zeros((24, 24, 24), np.uint8)
    labels[4:12, 4:12, 4:12], labels[14:20, 14:20, 14:20] = 1, 2
    changed = [perturb(labels, np.random.default_rng(seed)) for seed in range(20)]
    assert all(set(np.unique(c)) <= {0, 1, 2} for c in changed)
    assert sum(not np.array_equal(c, labels) for c in changed) >= 8  # p 0.4 per label, plus component removal
    assert sum(np.array_equal(c, labels) for c in changed) >= 2
