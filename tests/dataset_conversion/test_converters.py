"""Each converter on a tiny copy laid out like the original release."""

import json
import re

import nibabel as nib
import numpy as np
import pytest

from autoseg.cli import main
from autoseg.dataset import RawDataset, verify_dataset
from autoseg.errors import AutosegError
from autoseg.io import Geometry, ImageData, read_image, write_image
from dataset_conversion.converters import convert_dataset
from dataset_conversion.synthetic.brats import write_brats_layout
from dataset_conversion.synthetic.isles import write_isles_layout


def test_brats2019_layout_converts_with_label_mapping(tmp_path):
    source = write_brats_layout(tmp_path / "brats", num_cases=2, num_test=1, seed=1)
    subject = next((source / "MICCAI_BraTS_2019_Data_Training").rglob("*_seg.nii.gz"))
    original = read_image(subject).array
    folder = convert_dataset("brats2019", source, tmp_path / "raw", dataset_id=12)
    assert folder.name == "Dataset012_BraTS2019" and verify_dataset(folder, 1).ok
    case_id = subject.name[: -len("_seg.nii.gz")]
    converted = read_image(folder / "labelsTr" / f"{case_id}.nii.gz").array
    for brats_value, raw_value in {0: 0, 1: 2, 2: 1, 4: 3}.items():
        np.testing.assert_array_equal(converted == raw_value, original == brats_value)
    np.testing.assert_array_equal(
        read_image(folder / "imagesTr" / f"{case_id}_0001.nii.gz").array, read_image(subject.parent / f"{case_id}_t1ce.nii.gz").array
    )
    assert len(RawDataset(folder).cases("test")) == 1


def test_brats_refuses_2023_label_convention(tmp_path):
    source = write_brats_layout(tmp_path / "brats", num_cases=1, num_test=0, seed=1)
    seg = next(source.rglob("*_seg.nii.gz"))
    image = read_image(seg)
    write_image(ImageData(np.where(image.array == 4, 3, image.array).astype(np.uint8), image.geometry), seg)
    with pytest.raises(AutosegError, match="BraTS 2023"):
        convert_dataset("brats2019", source, tmp_path / "raw", dataset_id=12)
    assert not (tmp_path / "raw").exists() or not any((tmp_path / "raw").iterdir())


def test_isles2017_layout_converts(tmp_path):
    source = write_isles_layout(tmp_path / "isles", num_cases=2, num_test=1, seed=2)
    folder = convert_dataset("isles2017", source, tmp_path / "raw", dataset_id=13)
    assert verify_dataset(folder, 1).ok
    dataset = RawDataset(folder)
    assert [c.case_id for c in dataset.cases()] == ["isles_001", "isles_002"]
    assert dataset.spec.channel_names[5] == "Tmax"
    tmax = next((source / "ISLES2017_Training").rglob("*MR_Tmax*.nii"))
    case_folder = tmax.parent.parent.name  # training_<n>
    np.testing.assert_array_equal(
        read_image(folder / "imagesTr" / f"isles_{int(case_folder.split('_')[1]):03d}_0005.nii.gz").array, read_image(tmax).array
    )


def test_isles_missing_map_is_named(tmp_path):
    source = write_isles_layout(tmp_path / "isles", num_cases=1, num_test=0, seed=2)
    for path in source.rglob("*MR_rCBF*"):
        if path.is_dir():
            for child in path.iterdir():
                child.unlink()
            path.rmdir()
    with pytest.raises(AutosegError, match="no MR_rCBF map"):
        convert_dataset("isles2017", source, tmp_path / "raw", dataset_id=13)


def make_msd_task(root, num_train=2, num_test=1):
    """A tiny Task01-like folder: 4D (x, y, z, modality) images, MSD dataset.json, macOS junk files."""
    task = root / "Task01_BrainTumour"
    (task / "imagesTr").mkdir(parents=True)
    (task / "labelsTr").mkdir()
    (task / "imagesTs").mkdir()
    affine = np.diag([1.2, 1.0, 2.0, 1.0])
    rng = np.random.default_rng(0)
    training, test = [], []
    for index in range(num_train + num_test):
        name = f"BRATS_{index:03d}.nii.gz"
        data = rng.normal(size=(6, 5, 4, 2)).astype(np.float32)
        if index < num_train:
            nib.save(nib.Nifti1Image(data, affine), task / "imagesTr" / name)
            nib.save(nib.Nifti1Image(rng.integers(0, 3, size=(6, 5, 4)).astype(np.uint8), affine), task / "labelsTr" / name)
            training.append({"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"})
        else:
            nib.save(nib.Nifti1Image(data, affine), task / "imagesTs" / name)
            test.append(f"./imagesTs/{name}")
    (task / "imagesTr" / "._BRATS_000.nii.gz").write_bytes(b"\x00\x05\x16\x07junk")
    msd = {
        "name": "BRATS",
        "modality": {"0": "FLAIR", "1": "T1w"},
        "labels": {"0": "background", "1": "edema", "2": "tumour"},
        "numTraining": num_train,
        "numTest": num_test,
        "training": training,
        "test": test,
    }
    (task / "dataset.json").write_text(json.dumps(msd))
    return task


def test_decathlon_4d_images_split_into_channels(tmp_path):
    task = make_msd_task(tmp_path)
    folder = convert_dataset("decathlon", task, tmp_path / "raw", dataset_id=14)
    assert folder.name == "Dataset014_BrainTumour" and verify_dataset(folder, 1).ok
    dataset = RawDataset(folder)
    assert dataset.spec.channel_names == {0: "FLAIR", 1: "T1w"} and dataset.spec.labels == {"background": 0, "edema": 1, "tumour": 2}
    source = np.asanyarray(nib.load(task / "imagesTr" / "BRATS_001.nii.gz").dataobj)
    t1 = read_image(folder / "imagesTr" / "BRATS_001_0001.nii.gz")
    np.testing.assert_array_equal(t1.array[0], source[..., 1].T)
    assert t1.geometry.spacing == pytest.approx((2.0, 1.0, 1.2))
    assert len(dataset.cases("test")) == 1


def test_png_pairs_map_mask_values_and_split_rgb(tmp_path):
    source = tmp_path / "pairs"
    rng = np.random.default_rng(0)
    identity = Geometry.identity((1.0, 1.0))
    for index in range(3):
        write_image(ImageData(rng.integers(0, 256, (3, 16, 12)).astype(np.uint8), identity), source / "images" / f"img{index}.png")
        mask = np.zeros((1, 16, 12), np.uint8)
        mask[0, 4:9, 3:7] = 255
        write_image(ImageData(mask, identity), source / "masks" / f"img{index}.png")
    write_image(ImageData(rng.integers(0, 256, (3, 16, 12)).astype(np.uint8), identity), source / "test" / "new.png")
    folder = convert_dataset("png_pairs", source, tmp_path / "raw", dataset_id=15)
    assert verify_dataset(folder, 1).ok
    dataset = RawDataset(folder)
    assert dataset.spec.num_channels == 3 and dataset.spec.labels == {"background": 0, "foreground": 1}
    label = read_image(folder / "labelsTr" / "img1.png").array
    assert set(np.unique(label)) == {0, 1} and label[0, 5, 4] == 1
    green = read_image(folder / "imagesTr" / "img1_0001.png").array
    np.testing.assert_array_equal(green[0], read_image(source / "images" / "img1.png").array[1])
    assert [c.case_id for c in dataset.cases("test")] == ["new"]


def test_png_pairs_unmatched_names_are_listed(tmp_path):
    source = tmp_path / "pairs"
    identity = Geometry.identity((1.0, 1.0))
    write_image(ImageData(np.ones((1, 4, 4), np.uint8), identity), source / "images" / "a.png")
    write_image(ImageData(np.zeros((1, 4, 4), np.uint8), identity), source / "masks" / "b.png")
    with pytest.raises(AutosegError, match="a, b"):
        convert_dataset("png_pairs", source, tmp_path / "raw", dataset_id=15)


def test_nnunet_v2_dataset_is_copied_unchanged(stand_in_cache, tmp_path):
    source = stand_in_cache("spine")
    folder = convert_dataset("nnunetv2", source, tmp_path / "raw", dataset_id=16)
    assert folder.name == "Dataset016_LumbarSpineDixon" and verify_dataset(folder, 1).ok
    for path in source.rglob("*"):
        if path.is_file():
            assert (folder / path.relative_to(source)).read_bytes() == path.read_bytes()


def test_missing_source_is_named(tmp_path):
    with pytest.raises(AutosegError, match="no such file or folder"):
        convert_dataset("decathlon", tmp_path / "nowhere", tmp_path / "raw", dataset_id=1)


def test_default_id_comes_from_the_source_name_or_is_the_lowest_free(tmp_path):
    task = make_msd_task(tmp_path, num_train=1, num_test=0)
    assert convert_dataset("decathlon", task, tmp_path / "raw").name == "Dataset001_BrainTumour"
    # Task01's id is now taken: the next conversion gets the lowest free id.
    assert convert_dataset("decathlon", task, tmp_path / "raw", name="Again").name == "Dataset002_Again"


def test_dicom_patient_folders_with_seg_objects_and_label_files_convert(tmp_path, capsys):
    from dataset_conversion.synthetic.brats import SHAPE, brats_subject
    from dataset_conversion.synthetic.dicom_folder import CONVERTED_VALUES, SEGMENT_CODES, scanner_values, write_dicom_folder_layout
    from dataset_conversion.synthetic.registry import case_rng, zoomed_grid

    source = write_dicom_folder_layout(tmp_path / "clinic", num_cases=2, num_test=1, seed=4)
    assert main(["convert", "dicom_folder", str(source), "-d", "31", "--raw", str(tmp_path / "raw"), "-np", "1"]) == 0
    folder = tmp_path / "raw" / "Dataset031_DICOM"
    dataset = RawDataset(folder)
    assert dataset.spec.channel_names == {0: "FLAIR 3D", 1: "T1 MPRAGE sag"}  # the descriptions both cases share, sorted
    assert dataset.spec.labels == {"background": 0, "necrosis": 1, "oedema": 2, "enhancing tumour": 3}
    # each label's coded concepts, read from the SEG objects, for predictions written as DICOM-SEG again
    assert dataset.spec.label_codes() == {CONVERTED_VALUES[value]: codes for value, codes in SEGMENT_CODES.items()}
    assert [c.case_id for c in dataset.cases()] == ["PATIENT000", "PATIENT001"]
    assert [c.case_id for c in dataset.cases("test")] == ["PATIENT002"]
    shape, _ = zoomed_grid(SHAPE, (3.0, 3.0, 3.0), 0.5)
    for index, case in enumerate(dataset.cases()):  # PATIENT000 from its DICOM-SEG, PATIENT001 from its label file
        images, brats_label = brats_subject(case_rng(4, index), shape)
        expected = np.vectorize(CONVERTED_VALUES.__getitem__)(brats_label)
        np.testing.assert_array_equal(read_image(case.label_files[0]).array[0], expected)
        np.testing.assert_array_equal(read_image(case.image_files[1]).array[0], scanner_values(images["t1"]))

    with pytest.raises(AutosegError, match=r"0 series have a description containing 'T2'"):
        convert_dataset("dicom_folder", source, tmp_path / "raw", dataset_id=32, channels=["T1", "T2"])
    with pytest.raises(AutosegError, match="--channels picks series by name for dicom_folder"):
        convert_dataset("png_pairs", source, tmp_path / "raw", dataset_id=33, channels=["T1"])
    folder = convert_dataset("dicom_folder", source, tmp_path / "raw", dataset_id=34, channels=["t1"])
    assert RawDataset(folder).spec.channel_names == {0: "t1"}


def edit_msd(task, edit):
    msd = json.loads((task / "dataset.json").read_text())
    edit(msd)
    (task / "dataset.json").write_text(json.dumps(msd))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda msd: msd["labels"].update({"tumour": "3"}), "labels ['tumour'] must each map a whole number"),
        (lambda msd: msd["training"][1].pop("label"), "'training'[1]: a training case needs an 'image' and a 'label'"),
        (lambda msd: msd["training"][0].update(label="../../secret.nii.gz"), "leads outside"),
        (lambda msd: msd["test"].append("/etc/hostname"), "leads outside"),
        (lambda msd: msd.update(training="all of them"), "'training' must be a list"),
    ],
)
def test_a_malformed_or_escaping_msd_dataset_json_is_refused_and_nothing_is_written(tmp_path, edit, message):
    task = make_msd_task(tmp_path)
    (tmp_path / "secret.nii.gz").write_bytes((task / "labelsTr" / "BRATS_000.nii.gz").read_bytes())
    edit_msd(task, edit)
    with pytest.raises(AutosegError, match=re.escape(message)):
        convert_dataset("decathlon", task, tmp_path / "raw", dataset_id=14)
    assert not (tmp_path / "raw").exists() or not any((tmp_path / "raw").iterdir())
