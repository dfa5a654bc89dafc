"""Property-based tests of corruption (hypothesis, bounded examples): a random edit of dataset.json or of an image
header is either reported as a problem or read as a valid dataset or image, never a crash and never a geometry
that later stages cannot use."""

import json
import shutil

import nibabel as nib
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoseg.dataset import DatasetSpec, verify_dataset
from autoseg.dataset.dataset_json import dataset_json_problems
from autoseg.errors import AutosegError
from autoseg.io import read_image

BOUNDED = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 300) | st.floats(allow_nan=True) | st.text(max_size=6),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=6,
)
KEYS = ["channel_names", "labels", "numTraining", "file_ending", "task", "regions_class_order", "targets", "classes", "segment_codes"]


@BOUNDED
@given(edits=st.lists(st.tuples(st.sampled_from(KEYS), st.one_of(st.just("delete"), json_values)), min_size=1, max_size=3))
def test_a_randomly_edited_dataset_json_is_refused_with_problems_or_parsed(stand_in_cache, tmp_path_factory, edits):
    source = stand_in_cache("spine", 3, 1)
    data = json.loads((source / "dataset.json").read_text())
    for key, value in edits:
        if value == "delete":
            data.pop(key, None)
        else:
            data[key] = value
    problems = dataset_json_problems(data)
    assert all(isinstance(problem, str) and problem for problem in problems)
    if not problems:
        DatasetSpec.from_json(data)  # what verify accepts, every stage can parse
    folder = tmp_path_factory.mktemp("edited") / source.name
    shutil.copytree(source, folder)
    (folder / "dataset.json").write_text(json.dumps(data, allow_nan=True))
    report = verify_dataset(folder, num_processes=1)  # never raises: every problem is reported
    assert report.ok or report.problems


finite_or_not = st.one_of(st.floats(-5, 5), st.sampled_from([0.0, -0.0, float("nan"), float("inf"), 1e-12]))


@BOUNDED
@given(linear=st.lists(finite_or_not, min_size=9, max_size=9), origin=st.lists(finite_or_not, min_size=3, max_size=3))
def test_a_randomly_corrupted_header_is_refused_or_read_as_a_usable_grid(tmp_path_factory, linear, origin):
    path = tmp_path_factory.mktemp("header") / "image.nii"
    nib.save(nib.Nifti1Image(np.ones((4, 5, 6), dtype=np.float32), np.eye(4)), path)
    rows = np.concatenate([np.reshape(linear, (3, 3)), np.reshape(origin, (3, 1))], axis=1).astype("<f4")
    header = bytearray(path.read_bytes())
    header[252:256] = np.array([0, 1], dtype="<i2").tobytes()  # qform_code 0, sform_code 1: the sform is the geometry
    header[280:328] = rows.tobytes()  # srow_x, srow_y, srow_z as a broken writer left them
    path.write_bytes(bytes(header))
    try:
        read = read_image(path)
    except AutosegError as error:
        assert "image.nii" in str(error)
        return
    assert read.geometry.problems() == []
    assert all(value > 0 for value in read.geometry.spacing)
