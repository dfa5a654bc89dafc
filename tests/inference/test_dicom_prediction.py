"""DICOM in, NIfTI or DICOM-SEG out: a stand-in case written as DICOM series predicts what its NIfTI predicts, and
its DICOM Segmentation puts every label voxel at the patient coordinates of the source voxel."""

import json
import math
import shutil
import sys

import highdicom as hd
import numpy as np
import pydicom
import pytest

import autoseg
from autoseg.cli import main
from autoseg.io import Geometry, ImageData, read_image, write_image
from autoseg.io.dicom import series_files, write_dicom_series


@pytest.fixture(scope="module")
def inputs(brats_model, tmp_path_factory):
    """The test case on an oblique grid, once as DICOM series (one folder per channel) and once as NIfTI files."""
    _, dataset = brats_model
    [case] = dataset.cases("test")
    root = tmp_path_factory.mktemp("dicom_inputs")
    c, s = math.cos(0.4), math.sin(0.4)
    oblique = Geometry(read_image(case.image_files[0]).geometry.spacing, (-30.0, 12.5, 40.0), (c, 0, s, 0, 1, 0, -s, 0, c))
    for channel, path in enumerate(case.image_files):
        write_dicom_series(ImageData(read_image(path).array, oblique), root / "dicom" / f"case_{channel:04d}", series_number=channel + 1)
        write_image(read_image(root / "dicom" / f"case_{channel:04d}"), root / "nifti" / f"case_{channel:04d}.nii.gz")  # same values
    return root / "dicom", root / "nifti", oblique


def predict(model_folder, inputs, output, *options) -> int:
    arguments = ["predict", "-i", str(inputs), "-o", str(output), "-d", str(model_folder.parent), "-tr", "short", "--device", "cpu"]
    return main([*arguments, *options])


def test_a_case_given_as_dicom_series_predicts_the_labels_of_its_nifti_in_patient_geometry(brats_model, inputs, tmp_path):
    model, _ = brats_model
    dicom, nifti, oblique = inputs
    assert predict(model, dicom, tmp_path / "from_dicom") == 0
    assert predict(model, nifti, tmp_path / "from_nifti") == 0
    from_dicom, from_nifti = read_image(tmp_path / "from_dicom" / "case.nii.gz"), read_image(tmp_path / "from_nifti" / "case.nii.gz")
    assert from_dicom.geometry.differences(oblique) == []
    np.testing.assert_array_equal(from_dicom.array, from_nifti.array)
    assert len(np.unique(from_dicom.array)) > 1  # not an empty map compared with an empty map
    series = [str(dicom / f"case_{channel:04d}") for channel in range(4)]
    np.testing.assert_array_equal(autoseg.load_model(model, device="cpu").predict(series), from_nifti.array[0])  # the Python API


def test_dicom_seg_output_references_the_series_and_places_each_label_where_the_nifti_has_it(brats_model, inputs, tmp_path):
    model, dataset = brats_model
    dicom, _, _ = inputs
    assert predict(model, dicom, tmp_path / "nifti") == 0
    assert predict(model, dicom, tmp_path / "seg", "--output_format", "dicom_seg") == 0
    labels = read_image(tmp_path / "nifti" / "case.nii.gz").array[0]
    assert not (tmp_path / "seg" / "case.nii.gz").exists()

    seg = hd.seg.segread(tmp_path / "seg" / "case.dcm")
    sources = {ds.SOPInstanceUID: ds for ds in map(pydicom.dcmread, series_files(dicom / "case_0000"))}
    slice_of = {uid: index for index, uid in enumerate(sources)}
    assert seg.SeriesInstanceUID not in {ds.SeriesInstanceUID for ds in sources.values()}
    assert {ref.SeriesInstanceUID for ref in seg.ReferencedSeriesSequence} == {next(iter(sources.values())).SeriesInstanceUID}
    names = dataset.spec.label_names()
    segments = {int(item.SegmentNumber): item for item in seg.SegmentSequence}
    value_of = {number: sorted(names)[number - 1] for number in segments}
    assert [item.SegmentLabel for item in segments.values()] == [names[value] for value in sorted(names)]
    assert all(item.SegmentAlgorithmType == "AUTOMATIC" for item in segments.values())
    assert {item.SegmentedPropertyTypeCodeSequence[0].CodeMeaning for item in segments.values()} == {"Tissue"}  # no segment_codes

    frames_with_labels = {(v, z) for v in sorted(names) for z in range(labels.shape[0]) if (labels[z] == v).any()}
    assert int(seg.NumberOfFrames) == len(frames_with_labels)
    for index, frame in enumerate(seg.PerFrameFunctionalGroupsSequence):
        value = value_of[int(frame.SegmentIdentificationSequence[0].ReferencedSegmentNumber)]
        source_uid = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        z = slice_of[source_uid]
        position = [float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient]
        np.testing.assert_allclose(position, [float(v) for v in sources[source_uid].ImagePositionPatient], atol=1e-3)
        np.testing.assert_array_equal(seg.get_frame(index + 1).astype(bool), labels[z] == value)


def test_dicom_seg_refuses_inputs_that_are_not_dicom_and_a_missing_highdicom(brats_model, inputs, tmp_path, monkeypatch, capsys):
    model, _ = brats_model
    _, nifti, _ = inputs
    assert predict(model, nifti, tmp_path / "out", "--output_format", "dicom_seg") == 2
    assert "references the DICOM series a case was read from; 1 case(s) are image files (case)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    monkeypatch.setitem(sys.modules, "highdicom", None)
    assert predict(model, inputs[0], tmp_path / "out", "--output_format", "dicom_seg") == 2
    assert "pip install 'autoseg[dicom]'" in capsys.readouterr().err
    assert predict(model, nifti, tmp_path / "out", "--output_format", ".nrrd") == 0
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["labels"] and (tmp_path / "out" / "case.nrrd").is_file()


def test_dicom_seg_segments_carry_the_codes_dataset_json_gives(brats_model, inputs, tmp_path):
    model, _ = brats_model
    copy = tmp_path / "results" / model.name
    shutil.copytree(model, copy)
    dataset_json = json.loads((copy / "dataset.json").read_text())
    abnormal, left = ["SCT", "49755003", "Morphologically Abnormal Structure"], ["SCT", "7771000", "Left"]
    dataset_json["segment_codes"] = {"2": {"category": abnormal, "type": ["SCT", "79654002", "Edema"], "modifier": left}}
    (copy / "dataset.json").write_text(json.dumps(dataset_json))
    assert predict(copy, inputs[0], tmp_path / "seg", "--output_format", "dicom_seg") == 0

    segments = {item.SegmentLabel: item for item in hd.seg.segread(tmp_path / "seg" / "case.dcm").SegmentSequence}
    coded = segments["label 2 (in whole_tumour, tumour_core)"]
    kind = coded.SegmentedPropertyTypeCodeSequence[0]
    assert (kind.CodingSchemeDesignator, kind.CodeValue, kind.CodeMeaning) == ("SCT", "79654002", "Edema")
    assert coded.SegmentedPropertyCategoryCodeSequence[0].CodeMeaning == "Morphologically Abnormal Structure"
    assert kind.SegmentedPropertyTypeModifierCodeSequence[0].CodeValue == "7771000"
    others = [item for item in segments.values() if item is not coded]
    assert others and all(item.SegmentedPropertyTypeCodeSequence[0].CodeMeaning == "Tissue" for item in others)


def test_dicom_seg_of_series_without_a_frame_of_reference_is_refused_before_predicting(brats_model, inputs, tmp_path, capsys):
    model, _ = brats_model
    dicom = tmp_path / "no_frame"
    shutil.copytree(inputs[0], dicom)
    for path in (dicom / "case_0000").iterdir():
        dataset = pydicom.dcmread(path)
        del dataset.FrameOfReferenceUID
        dataset.save_as(path)
    assert predict(model, dicom, tmp_path / "seg", "--output_format", "dicom_seg") == 2
    error = capsys.readouterr().err
    assert "carry no Frame of Reference UID" in error and "case_0000" in error and "Traceback" not in error
    assert not (tmp_path / "seg").exists()
