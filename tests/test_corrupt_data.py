"""Faults in the data itself, at every stage that reads it: verify reports each one, and fingerprinting,
preprocessing, prediction and evaluation refuse it (exit 2, one line naming the file, the value and the fix),
never storing or using it. One row per fault; a new refusal adds a row."""

import json
import shutil

import nibabel as nib
import numpy as np
import pytest

from autoseg.cli import main
from autoseg.io import read_image
from autoseg.preprocessing.storage import finished_cases

LABEL = "labelsTr/spine_001.nii.gz"
IMAGE = "imagesTr/spine_001_0000.nii.gz"


def rewrite_nifti(path, data=None, affine=None, dtype=None):
    """Writes ``path`` again with other voxels, affine or stored type (nibabel: the header as given, unchecked)."""
    image = nib.load(path)
    array = np.asarray(image.dataobj) if data is None else data(np.asarray(image.dataobj))
    array = array.astype(dtype or array.dtype)
    affine = image.affine if affine is None else affine(image.affine.copy())
    nifti = nib.Nifti1Image(array, np.eye(4), dtype=array.dtype)
    nifti.set_sform(affine, code=1)  # as given, however wrong (a qform must be a rotation: none is written)
    nifti.set_qform(None, code=0)
    nib.save(nifti, path)


def set_voxel(value, dtype):
    def edit(array):
        array = array.astype(dtype)
        array[64, 64] = value
        return array

    return edit


def zero_column(affine):
    affine[:3, 0] = 0
    return affine


def parallel_axes(affine):
    affine[:3, 1] = affine[:3, 0]
    return affine


# name: (file to corrupt, how, what the refusal says)
DATA_FAULTS = {
    "fractional label": (LABEL, dict(data=set_voxel(0.5, np.float32)), "label holds non-integer values (e.g. 0.5)"),
    "int64 label 2**40 + 1": (LABEL, dict(data=set_voxel(2**40 + 1, np.int64)), "label values [1099511627777] are not declared"),
    "label 257": (LABEL, dict(data=set_voxel(257, np.uint16)), "label values [257] are not declared"),
    "label 2**32 + 1": (LABEL, dict(data=set_voxel(2**32 + 1, np.int64)), "label values [4294967297] are not declared"),
    "NaN voxel in an image": (IMAGE, dict(data=set_voxel(np.nan, np.float32)), "contains 1 NaN/Inf value(s)"),
    "infinite voxel in an image": (IMAGE, dict(data=set_voxel(np.inf, np.float32)), "contains 1 NaN/Inf value(s)"),
    "zero spacing": (IMAGE, dict(affine=zero_column), "is not positive along array axis 1"),
    "singular direction": (IMAGE, dict(affine=parallel_axes), "is singular"),
    "label of another shape": (
        LABEL,
        dict(data=lambda array: array[:-3]),
        "label does not match the images: shape (128, 125) vs (128, 128)",
    ),
}


def corrupt(folder, fault):
    relative, how, _ = DATA_FAULTS[fault]
    rewrite_nifti(folder / relative, **how)


@pytest.fixture(scope="module")
def pristine(stand_in_cache):
    return stand_in_cache("spine", 3, 1)


@pytest.mark.parametrize("fault", list(DATA_FAULTS))
def test_verify_reports_it_and_plan_and_preprocess_refuses_it_without_storing_anything(pristine, tmp_path, fault, capsys):
    raw = tmp_path / "raw" / pristine.name
    shutil.copytree(pristine, raw)
    corrupt(raw, fault)
    expected = DATA_FAULTS[fault][2]
    folders = ["--raw", str(tmp_path / "raw"), "--preprocessed", str(tmp_path / "pre")]

    assert main(["verify", "-d", "901", "--raw", str(tmp_path / "raw")]) == 1
    assert expected in capsys.readouterr().out

    assert main(["plan_and_preprocess", "-d", "901", "-c", "2d", "-np", "1", *folders]) == 2
    error = capsys.readouterr().err
    assert expected in error and DATA_FAULTS[fault][0] in error and "Traceback" not in error
    assert len(error.strip().splitlines()) == 1
    assert not (tmp_path / "pre" / pristine.name / "fingerprint.json").exists()


def test_preprocessing_with_an_existing_fingerprint_refuses_the_case_too(pristine, tmp_path, capsys):
    """The fingerprint was made before the file went bad: preprocessing checks what it reads itself, and training
    refuses the folder it left incomplete."""
    raw = tmp_path / "raw" / pristine.name
    shutil.copytree(pristine, raw)
    folders = ["--raw", str(tmp_path / "raw"), "--preprocessed", str(tmp_path / "pre")]
    assert main(["plan_and_preprocess", "-d", "901", "-c", "2d", "-np", "1", *folders]) == 0
    corrupt(raw, "label 257")
    assert main(["preprocess", "-d", "901", "-c", "2d", "-np", "1", "--overwrite", *folders]) == 2
    assert "label values [257] are not declared" in capsys.readouterr().err
    data = tmp_path / "pre" / pristine.name / "2d"
    assert "spine_001" not in finished_cases(data) and not list((data / "cases").glob(".*"))
    results = ["--preprocessed", str(tmp_path / "pre"), "--results", str(tmp_path / "results")]
    assert main(["train", "901", "2d", "0", "-tr", "short", "--epochs", "1", *results]) == 2
    error = capsys.readouterr().err
    assert "preprocessing did not finish" in error and "spine_001" in error
    assert not (tmp_path / "pre" / pristine.name / "splits_final.json").exists()


def test_labels_stored_as_floats_holding_integers_are_accepted(pristine, tmp_path):
    raw = tmp_path / "raw" / pristine.name
    shutil.copytree(pristine, raw)
    rewrite_nifti(raw / LABEL, dtype=np.float32)
    folders = ["--raw", str(tmp_path / "raw"), "--preprocessed", str(tmp_path / "pre")]
    assert main(["verify", "-d", "901", "--raw", str(tmp_path / "raw")]) == 0
    assert main(["plan_and_preprocess", "-d", "901", "-c", "2d", "-np", "1", *folders]) == 0


PREDICTION_REFUSALS = {
    "NaN voxel in an image": "holds 1 NaN or infinite value(s); replace them",
    "zero spacing": "is not positive along array axis 1",
    "singular direction": "is singular",
}


@pytest.mark.parametrize("fault", list(PREDICTION_REFUSALS))
def test_prediction_refuses_an_unusable_input_before_predicting_it(spine, tmp_path, fault, capsys):
    model_folder, dataset = spine
    inputs = tmp_path / "in"
    shutil.copytree(dataset.root / "imagesTs", inputs)
    first = sorted(inputs.glob("*_0000.nii.gz"))[0]
    rewrite_nifti(first, **DATA_FAULTS[fault][1])
    output = tmp_path / "out"
    arguments = ["predict", "-d", dataset.name, "-c", "2d", "-f", "0", "-tr", "short", "-i", str(inputs), "-o", str(output)]
    assert main([*arguments, "--results", str(model_folder.parent.parent)]) == 2
    error = capsys.readouterr().err
    assert first.name in error and PREDICTION_REFUSALS[fault] in error and "Traceback" not in error
    assert not list(output.glob("*.nii.gz"))


def test_the_python_api_refuses_arrays_with_nan_or_no_usable_spacing(spine):
    from autoseg import load_model
    from autoseg.errors import AutosegError

    model_folder, dataset = spine
    model = load_model(model_folder, folds=["0"])
    image = read_image(sorted((dataset.root / "imagesTs").glob("*_0000.nii.gz"))[0]).array
    channels = np.concatenate([image, image])
    with pytest.raises(AutosegError, match="is not positive along array axis 0"):
        model.predict(channels, spacing=(0.0, 1.0))
    channels[0, 3, 3] = np.nan
    with pytest.raises(AutosegError, match="1 NaN or infinite value"):
        model.predict(channels, spacing=(1.0, 1.0))


def test_evaluate_refuses_a_reference_without_a_usable_grid(pristine, tmp_path, capsys):
    predictions, references = tmp_path / "pred", tmp_path / "ref"
    for folder in (predictions, references):
        folder.mkdir()
        shutil.copy(pristine / LABEL, folder / "spine_001.nii.gz")
    rewrite_nifti(references / "spine_001.nii.gz", affine=zero_column)
    (predictions / "dataset.json").write_text(json.dumps(json.loads((pristine / "dataset.json").read_text())))
    assert main(["evaluate", str(references), str(predictions), "-l", "1"]) == 2
    assert "spine_001.nii.gz: spacing" in capsys.readouterr().err
