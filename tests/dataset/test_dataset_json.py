import pytest

from autoseg.dataset import REFERENCE_FORMATS
from autoseg.dataset.dataset_json import DatasetSpec, dataset_json_problems
from autoseg.errors import AutosegError
from autoseg.tasks import get_task, task_names

VALID = {
    "channel_names": {"0": "T1", "1": "FLAIR"},
    "labels": {"background": 0, "lesion": 1},
    "numTraining": 3,
    "file_ending": ".nii.gz",
}


LESION = {"category": ["SCT", "49755003", "Morphologically Abnormal Structure"], "type": ["SCT", "52988006", "Lesion"]}


def with_changes(**changes):
    data = {**VALID, **changes}
    return {k: v for k, v in data.items() if v is not None}


def test_valid_nnunet_dataset_json_parses_with_segmentation_default():
    spec = DatasetSpec.from_json(VALID)
    assert spec.task == "segmentation" and spec.num_channels == 2
    assert spec.label_values() == {0, 1}


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"channel_names": None}, "'channel_names' is missing"),
        ({"channel_names": None, "modality": {"0": "CT"}}, "rename it"),
        ({"channel_names": {"0": "T1", "2": "T2"}}, "without gaps"),
        ({"numTraining": "3"}, "'numTraining' must be a non-negative integer"),
        ({"file_ending": "nii.gz"}, "'file_ending' must be a string"),
        ({"file_ending": ".dcm"}, "is not supported"),
        ({"task": "detection"}, "'task' must be one of"),
        ({"labels": {"lesion": 1}}, "background with value 0"),
        ({"labels": {"background": 0, "a": 1, "b": 1}}, "used by more than one"),
        ({"labels": {"background": 0, "a": "one"}}, "must be an integer"),
        ({"labels": {"background": 0, "a": 1, "b": 4}}, "consecutive from 0"),
        ({"labels": {"background": 0, "whole": [1, 2], "core": [2]}}, "regions_class_order"),
        ({"task": "regression"}, "'targets' must name one or more regression targets"),
        (
            {"task": "regression", "labels": None, "targets": {"0": "SD"}, "baseline_channels": {"0": 2}},
            "maps target '0' to 2, which is not an input channel",
        ),
        ({"task": "regression", "labels": None, "targets": {"0": "SD"}, "baseline_channels": {"1": 0}}, "names target '1'"),
        ({"task": "classification"}, "'classes' must name at least two classes"),
        ({"task": "classification", "classes": {"CN": 0, "AD": 2}}, "which must be 0..1, each once"),
        ({"task": "classification", "classes": {"0": "CN", "1": 1}}, "one way for every entry"),
        ({"task": "classification", "classes": {"0": 1, "1": 0}}, "'classes' is ambiguous: class name(s) ['0', '1']"),
        ({"task": "classification", "classes": {"0": "CN", "2": "AD"}}, 'keys must run from "0" to "1"'),
        (
            {"segment_codes": {"tumour": LESION}},
            "entry 'tumour' is neither a label name nor a foreground label value; use one of lesion, 1",
        ),
        ({"segment_codes": {"background": LESION}}, "entry 'background' is neither"),
        ({"segment_codes": {"lesion": LESION, "1": LESION}}, "entry '1' and 'lesion' both give codes for label value 1"),
        (
            {"segment_codes": {"lesion": {"type": ["SCT", "52988006", "Lesion"]}}},
            "needs 'category' and 'type' (and may have 'modifier'); missing category",
        ),
        ({"segment_codes": {"lesion": {**LESION, "colour": [1, 2, 3]}}}, "unknown 'colour'"),
        (
            {"segment_codes": {"lesion": {**LESION, "type": ["SCT", "52988006"]}}},
            "entry 'lesion' type: must be [coding scheme, code value, code meaning]",
        ),
        ({"segment_codes": {"lesion": {**LESION, "modifier": ["SCT", "7771000", "L" * 65]}}}, "longer than DICOM's 64 characters"),
        ({"segment_codes": ["lesion"]}, "'segment_codes' must be an object"),
        ({"task": "classification", "classes": {"0": "CN", "1": "AD"}, "segment_codes": {}}, "a classification dataset has none"),
    ],
)
def test_each_invalid_dataset_json_is_named(changes, expected):
    problems = dataset_json_problems(with_changes(**changes))
    assert any(expected in problem for problem in problems), problems


def test_all_problems_reported_at_once():
    problems = dataset_json_problems({"numTraining": -1, "task": "segmentation"})
    assert len(problems) >= 3
    with pytest.raises(AutosegError, match="(?s)channel_names.*numTraining.*file_ending"):
        DatasetSpec.from_json({"numTraining": -1})


def test_round_trip_keeps_extra_keys():
    data = {**VALID, "name": "X", "reference": "somewhere", "task": "segmentation"}
    assert DatasetSpec.from_json(data).to_json() == data


def test_regions_are_parsed():
    spec = DatasetSpec.from_json(with_changes(labels={"background": 0, "whole": [1, 2], "core": [2]}, regions_class_order=[1, 2]))
    assert spec.has_regions and spec.label_values() == {0, 1, 2}


def test_baseline_channels_default_to_the_same_index_and_round_trip():
    regression = with_changes(task="regression", labels=None, targets={"0": "PET_SD", "1": "T1_clean", "2": "CT"})
    assert DatasetSpec.from_json(regression).baselines() == {0: 0, 1: 1}  # there is no input channel 2
    chosen = {**regression, "baseline_channels": {"1": 0}}
    spec = DatasetSpec.from_json(chosen)
    assert spec.baselines() == {1: 0} and spec.to_json() == chosen
    assert DatasetSpec.from_json({**regression, "baseline_channels": {}}).baselines() == {}


def test_segment_codes_reach_label_values_by_name_or_value_and_round_trip():
    left = ["SCT", "7771000", "Left"]
    data = with_changes(
        labels={"background": 0, "whole": [1, 2], "core": [2]},
        regions_class_order=[1, 2],
        segment_codes={"2": {**LESION, "modifier": left}},
    )
    spec = DatasetSpec.from_json(data)
    assert spec.label_codes() == {2: {"category": tuple(LESION["category"]), "type": tuple(LESION["type"]), "modifier": tuple(left)}}
    assert DatasetSpec.from_json(spec.to_json()) == spec and spec.to_json()["segment_codes"] == data["segment_codes"]
    plain = DatasetSpec.from_json(with_changes(segment_codes={"lesion": LESION}))
    assert list(plain.label_codes()) == [1] and DatasetSpec.from_json(VALID).label_codes() == {}


@pytest.mark.parametrize("kind", task_names())
def test_each_kind_reads_and_writes_back_its_own_keys(kind):
    """A kind's reference format owns its dataset.json keys: parsed into the spec, written back unchanged, and a
    key it does not read (an nnU-Net habit such as 'labels' on a classification dataset) kept as it was."""
    keys = set(REFERENCE_FORMATS.get(kind).keys)
    for spec in get_task(kind).example_specs():
        data = spec.to_json()
        assert set(data) - {"channel_names", "numTraining", "file_ending", "task"} <= keys
        assert DatasetSpec.from_json(data) == spec and DatasetSpec.from_json(data).to_json() == data
        if "labels" not in keys:
            stray = {**data, "labels": {"background": 0, "x": 1}}
            assert DatasetSpec.from_json(stray).to_json() == stray and DatasetSpec.from_json(stray).labels == {}
