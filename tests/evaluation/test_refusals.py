"""What `autoseg evaluate` refuses to score, and what it scores that it used to drop: predictions off the
reference's grid, NaN or infinite values in predictions, references and network outputs, undeclared or
non-integer labels, `-l` naming a label found nowhere, and a perfect PSNR (infinite) kept through summary.json."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from autoseg.cli import main
from autoseg.dataset import DatasetSpec
from autoseg.errors import AutosegError
from autoseg.evaluation import read_summary, summarise, write_summary
from autoseg.io import Geometry, ImageData, write_image
from autoseg.selection import merge_image_folds
from autoseg.tasks import get_task, task_for
from autoseg.tasks.classification import TableWriter
from autoseg.tasks.classification.table import read_predictions, write_predictions
from autoseg.tasks.writers import ImageWriter

GEOMETRY = Geometry((2.0, 1.0, 1.5), (10.0, -4.0, 3.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
SEGMENTATION = {"channel_names": {"0": "MR"}, "labels": {"background": 0, "lesion": 1}, "numTraining": 1, "file_ending": ".nii.gz"}
REGRESSION = {"channel_names": {"0": "PET"}, "task": "regression", "targets": {"0": "PET"}, "numTraining": 1, "file_ending": ".nii.gz"}
CLASSIFICATION = {
    "channel_names": {"0": "MR"},
    "task": "classification",
    "classes": {"CN": 0, "AD": 1},
    "numTraining": 2,
    "file_ending": ".nii.gz",
}


def lesion() -> np.ndarray:
    labels = np.zeros((6, 10, 12), dtype=np.uint8)
    labels[2:4, 2:6, 1:5] = 1  # off-centre along x, so a flip along x moves it
    return labels


def folders(tmp_path, spec: dict, reference: np.ndarray, prediction: np.ndarray, prediction_geometry: Geometry = GEOMETRY):
    references, predictions = tmp_path / "ref", tmp_path / "pred"
    write_image(ImageData(reference[None], GEOMETRY), references / "case_0.nii.gz")
    write_image(ImageData(prediction[None], prediction_geometry), predictions / "case_0.nii.gz")
    (predictions / "dataset.json").write_text(json.dumps(spec))
    return references, predictions


def evaluate(references, predictions, *options) -> int:
    return main(["evaluate", str(references), str(predictions), "-np", "1", *options])


def test_a_prediction_with_another_spacing_or_origin_is_refused_naming_the_case_and_the_difference(tmp_path, capsys):
    other_spacing = Geometry((2.0, 1.0, 1.0), GEOMETRY.origin, GEOMETRY.direction)
    other_origin = Geometry(GEOMETRY.spacing, (0.0, 0.0, 0.0), GEOMETRY.direction)
    for what, geometry in (("spacing", other_spacing), ("origin", other_origin)):
        references, predictions = folders(tmp_path / what, SEGMENTATION, lesion(), lesion(), geometry)
        assert evaluate(references, predictions) == 2
        error = capsys.readouterr().err
        assert "case_0.nii.gz is not on the grid of its reference" in error and what in error and "--ignore_geometry" in error
        assert not (predictions / "summary.json").exists()
        assert evaluate(references, predictions, "--ignore_geometry") == 0
        assert json.loads((predictions / "summary.json").read_text())["mean"]["lesion"]["dice"] == 1.0


def test_a_prediction_stored_flipped_along_x_is_the_same_image_in_the_world_but_refused_not_scored_as_a_miss(tmp_path, capsys):
    # The same voxels in the world: x reversed in the array, the direction's x axis negated and the origin
    # moved to the other end. Scored array against array it would be a miss (Dice 0), exit 0.
    flipped_origin = (GEOMETRY.origin[0] + GEOMETRY.spacing[0] * (12 - 1), *GEOMETRY.origin[1:])
    flipped = Geometry(GEOMETRY.spacing, flipped_origin, (-1, 0, 0, 0, 1, 0, 0, 0, 1))
    references, predictions = folders(tmp_path, SEGMENTATION, lesion(), lesion()[..., ::-1].copy(), flipped)
    assert evaluate(references, predictions) == 2
    assert "direction" in capsys.readouterr().err
    assert evaluate(references, predictions, "--ignore_geometry") == 0
    assert json.loads((predictions / "summary.json").read_text())["mean"]["lesion"]["dice"] == 0.0


def test_undeclared_and_non_integer_label_values_are_refused(tmp_path, capsys):
    undeclared = lesion()
    undeclared[0, 0, 0] = 3
    references, predictions = folders(tmp_path / "undeclared", SEGMENTATION, lesion(), undeclared)
    assert evaluate(references, predictions) == 2
    assert "label values [3] are not declared in dataset.json's labels (declared: 0, 1)" in capsys.readouterr().err

    fractional = lesion().astype(np.float32)
    fractional[0, 0, 0] = 0.5
    references, predictions = folders(tmp_path / "fractional", SEGMENTATION, fractional, lesion())
    assert evaluate(references, predictions) == 2
    assert "ref/case_0.nii.gz: label holds non-integer values" in capsys.readouterr().err


def test_labels_named_with_dash_l_must_appear_in_some_reference_or_prediction(tmp_path, capsys):
    references, predictions = folders(tmp_path, SEGMENTATION, lesion(), lesion())
    assert evaluate(references, predictions, "-l", "1", "2") == 2
    error = capsys.readouterr().err
    assert "-l 2: no reference and no prediction" in error and "-l 1" not in error
    assert evaluate(references, predictions, "-l", "1") == 0


def pet() -> np.ndarray:
    image = np.zeros((6, 10, 12), dtype=np.float32)
    image[1:5, 2:8, 2:10] = 4.0
    image[2:4, 4:6, 4:7] = 9.0
    return image


def test_nan_or_infinite_values_in_a_regression_prediction_or_reference_are_refused(tmp_path, capsys):
    for where, value in (("pred", math.nan), ("pred", math.inf), ("ref", math.nan)):
        broken = pet()
        broken[3, 5, 5] = value
        prediction, reference = (broken, pet()) if where == "pred" else (pet(), broken)
        references, predictions = folders(tmp_path / f"{where}{value}", REGRESSION, reference, prediction)
        assert evaluate(references, predictions) == 2
        assert f"{where}/case_0.nii.gz holds 1 NaN or infinite value(s)" in capsys.readouterr().err
        assert not (predictions / "summary.json").exists()


def test_a_perfect_prediction_keeps_its_infinite_psnr_through_summary_json_and_the_merge_of_folds(tmp_path):
    references, predictions = folders(tmp_path, REGRESSION, pet(), pet())
    assert evaluate(references, predictions) == 0
    text = (predictions / "summary.json").read_text()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"summary.json holds {name}, not standard JSON"))
    summary = read_summary(predictions / "summary.json")
    assert summary["cases"]["case_0"]["PET"]["psnr"] == math.inf and summary["mean"]["PET"]["psnr"] == math.inf

    # two folds, one perfect case and one not: the merged mean counts the perfect case
    model, task = tmp_path / "model", task_for(DatasetSpec.from_json(REGRESSION))
    for fold, psnr in (("0", math.inf), ("1", 30.0)):
        validation = model / f"fold_{fold}" / "validation"
        write_image(ImageData(pet()[None], GEOMETRY), validation / f"case_{fold}.nii.gz")
        write_summary(validation / "summary.json", summarise({f"case_{fold}": {"PET": {"psnr": psnr}}}))
    merged = merge_image_folds(model, ["0", "1"], task)
    assert merged.summary["mean"]["PET"]["psnr"] == math.inf
    assert read_summary(merged.folder / "summary.json")["cases"]["case_0"]["PET"]["psnr"] == math.inf


def test_nan_classification_probabilities_are_refused(tmp_path):
    spec = DatasetSpec.from_json(CLASSIFICATION)
    write_predictions(tmp_path / "predictions.csv", {"a": np.array([0.2, 0.8]), "b": np.array([math.nan, math.nan])}, spec)
    with pytest.raises(AutosegError, match=r"predictions.csv line 3: case 'b' has a NaN or infinite probability"):
        read_predictions(tmp_path, spec)


@pytest.mark.parametrize("kind", ["segmentation", "regression", "classification"])
def test_a_network_output_with_nan_is_an_error_naming_the_case_and_writes_nothing(tmp_path, kind):
    spec = DatasetSpec.from_json({"segmentation": SEGMENTATION, "regression": REGRESSION, "classification": CLASSIFICATION}[kind])
    task = task_for(spec)
    output = torch.zeros(task.out_channels(), *((4, 4, 4) if task.has_decoder else ()))
    output.view(-1)[1] = math.nan
    writer = task.case_writer(tmp_path, plans=None, configuration=None)
    assert isinstance(writer, TableWriter if kind == "classification" else ImageWriter)
    with pytest.raises(AutosegError, match="case case_7: the network's output holds 1 NaN or infinite value"):
        writer.write("case_7", output, properties=None)
    assert not any(tmp_path.iterdir())


def test_a_prediction_on_its_references_grid_is_scored_without_the_flag(tmp_path):
    references, predictions = folders(tmp_path, SEGMENTATION, lesion(), lesion())
    assert evaluate(references, predictions) == 0
    assert json.loads((predictions / "summary.json").read_text())["mean"]["lesion"]["dice"] == 1.0


TABLE_FAULTS = {
    "a row with a cell too few": ("a,AD,0.2\n", "line 2: the row has fewer cells than the header"),
    "a row with a cell too many": ("a,AD,0.2,0.8,0.5\n", "line 2: the row has more cells than the header"),
    "a probability above 1": ("a,AD,0.2,1.8\n", "probability_AD = 1.8; probabilities lie in [0, 1]"),
    "a negative probability": ("a,CN,-0.2,0.8\n", "probability_CN = -0.2"),
    "an unknown class": ("a,MCI,0.2,0.8\n", "is predicted as 'MCI', which is not a class of dataset.json (CN, AD)"),
}


@pytest.mark.parametrize("fault", list(TABLE_FAULTS))
def test_a_malformed_classification_table_is_refused_by_evaluate(tmp_path, fault, capsys):
    row, message = TABLE_FAULTS[fault]
    predictions = tmp_path / "pred"
    predictions.mkdir()
    (predictions / "dataset.json").write_text(json.dumps(CLASSIFICATION))
    (predictions / "predictions.csv").write_text("case_id,prediction,probability_CN,probability_AD\n" + row)
    (tmp_path / "labelsTs.csv").write_text("case_id,label\na,AD\n")
    assert evaluate(tmp_path / "labelsTs.csv", predictions) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


def probability_folder(folder, probabilities, labels=None):
    """A prediction folder as predict --save_probabilities writes it: case_0.nii.gz and case_0.npz."""
    folder.mkdir(parents=True)
    (folder / "dataset.json").write_text(json.dumps(SEGMENTATION))
    write_image(ImageData((lesion() if labels is None else labels)[None], GEOMETRY), folder / "case_0.nii.gz")
    np.savez(folder / "case_0.npz", **probabilities)
    return folder


def good_probabilities():
    foreground = lesion().astype(np.float32)
    return np.stack([1 - foreground, foreground])


ENSEMBLE_FAULTS = {
    "text instead of numbers": ({"probabilities": np.array(["a", "b"])}, "holds an array of <U1"),
    "no probabilities array": ({"weights": good_probabilities()}, "holds weights, not 'probabilities'"),
    "a NaN probability": ({"probabilities": np.where(lesion() > 0, np.nan, good_probabilities())}, "NaN or infinite probabilities"),
    "values beyond probabilities": ({"probabilities": good_probabilities() * 3}, "not probabilities in [0, 1]"),
    "objects (a pickle)": ({"probabilities": np.array([{"a": 1}], dtype=object)}, "is not readable saved probabilities"),
}


@pytest.mark.parametrize("fault", list(ENSEMBLE_FAULTS))
def test_an_ensemble_checks_every_input_before_writing_anything(tmp_path, fault, capsys):
    stored, message = ENSEMBLE_FAULTS[fault]
    first = probability_folder(tmp_path / "a", {"probabilities": good_probabilities()})
    np.savez(first / "case_1.npz", probabilities=good_probabilities())  # a second case, fine in both folders
    write_image(ImageData(lesion()[None], GEOMETRY), first / "case_1.nii.gz")
    second = probability_folder(tmp_path / "b", {"probabilities": good_probabilities()})
    np.savez(second / "case_1.npz", **stored)
    write_image(ImageData(lesion()[None], GEOMETRY), second / "case_1.nii.gz")
    assert main(["ensemble", "-i", str(first), str(second), "-o", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert message in error and "case_1.npz" in error and "Traceback" not in error
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.nii.gz"))


def test_an_ensemble_into_one_of_its_inputs_is_refused(tmp_path, capsys):
    first = probability_folder(tmp_path / "a", {"probabilities": good_probabilities()})
    second = probability_folder(tmp_path / "b", {"probabilities": good_probabilities()})
    before = (first / "case_0.nii.gz").read_bytes()
    assert main(["ensemble", "-i", str(first), str(second), "-o", str(first)]) == 2
    assert "is one of the folders to ensemble" in capsys.readouterr().err
    assert (first / "case_0.nii.gz").read_bytes() == before


@pytest.mark.parametrize(
    "kind, options, refused, accepted",
    [
        ("segmentation", {"baseline_dir": Path("inputs")}, "--baseline", "--nsd_tolerance"),
        ("regression", {"nsd_tolerance": 2.0}, "--nsd_tolerance", "--baseline, --baseline_channel"),
        ("classification", {"nsd_tolerance": 2.0, "baseline_dir": Path("inputs")}, "--nsd_tolerance, --baseline", "no options of its own"),
    ],
)
def test_a_scoring_option_of_another_kind_is_refused_naming_its_flag(kind, options, refused, accepted, tmp_path):
    task = task_for(get_task(kind).example_specs()[0])
    with pytest.raises(AutosegError) as error:
        task.evaluate_folder(tmp_path / "references", tmp_path / "predictions", **options, baseline_channel=None)
    verb = "do" if "," in refused else "does"
    assert str(error.value) == f"{refused} {verb} not apply to a {kind} dataset; scoring {kind} predictions takes {accepted}."
