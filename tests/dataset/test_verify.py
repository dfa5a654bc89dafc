"""One test per kind of fault: verify must find it, name the case and file, and keep looking."""

import csv
import json
import shutil

import numpy as np

from autoseg.dataset import RawDataset, verify_dataset
from autoseg.errors import AutosegError
from autoseg.io import Geometry, ImageData, read_image, write_image


def problems_of(folder) -> list[str]:
    return [str(p) for p in verify_dataset(folder, num_processes=1).problems]


def assert_found(folder, *fragments):
    problems = problems_of(folder)
    for fragment in fragments:
        assert any(fragment in p for p in problems), f"{fragment!r} not in {problems}"
    return problems


def edit_json(folder, **changes):
    path = folder / "dataset.json"
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(json.dumps(data))


def rewrite(path, transform):
    image = read_image(path)
    write_image(transform(image), path)


def test_every_generated_stand_in_is_clean(stand_in_cache):
    for key in ("spine", "brats", "isles", "pet", "ad", "tumour2d"):
        report = verify_dataset(stand_in_cache(key), num_processes=1)
        assert report.ok, report.summary()


def test_missing_dataset_json(dataset_copy):
    folder = dataset_copy("spine")
    (folder / "dataset.json").unlink()
    assert_found(folder, "dataset.json not found")


def test_dataset_json_wrong_type_and_unknown_task(dataset_copy):
    folder = dataset_copy("spine")
    edit_json(folder, numTraining="three", task="detection")
    assert_found(folder, "numTraining", "'task' must be one of")


def test_missing_channel_file(dataset_copy):
    folder = dataset_copy("spine")
    (folder / "imagesTr" / "spine_001_0001.nii.gz").unlink()
    assert_found(folder, "spine_001: missing channel file(s) spine_001_0001.nii.gz")


def test_extra_and_unmatched_files(dataset_copy):
    folder = dataset_copy("spine")
    (folder / "imagesTr" / "notes.txt").write_text("x")
    shutil.copy(folder / "imagesTr" / "spine_000_0000.nii.gz", folder / "imagesTr" / "spine_000.nii.gz")
    shutil.copy(folder / "imagesTr" / "spine_000_0000.nii.gz", folder / "imagesTr" / "spine_000_0007.nii.gz")
    shutil.copy(folder / "labelsTr" / "spine_000.nii.gz", folder / "labelsTr" / "orphan.nii.gz")
    (folder / "imagesTr" / ".DS_Store").write_text("ignored")
    problems = assert_found(
        folder,
        "imagesTr/notes.txt: is not a .nii.gz image",
        "imagesTr/spine_000.nii.gz: name does not end in _XXXX",
        "has channel file 0007 but dataset.json declares 2",
        "labelsTr/orphan.nii.gz: label file has no matching images",
    )
    assert not any("DS_Store" in p for p in problems)


def test_wrong_file_ending(dataset_copy):
    folder = dataset_copy("spine")
    image = read_image(folder / "imagesTr" / "spine_002_0000.nii.gz")
    write_image(image, folder / "imagesTr" / "spine_009_0000.nrrd")
    assert_found(folder, "has ending .nrrd but dataset.json's file_ending is .nii.gz")


def test_num_training_mismatch(dataset_copy):
    folder = dataset_copy("spine")
    edit_json(folder, numTraining=5)
    assert_found(folder, "numTraining is 5 but imagesTr/ holds 3 cases")


def test_case_ids_colliding_on_case_insensitive_file_systems(dataset_copy):
    folder = dataset_copy("spine")
    for channel in ("0000", "0001"):
        shutil.copy(folder / "imagesTr" / f"spine_000_{channel}.nii.gz", folder / "imagesTr" / f"SPINE_000_{channel}.nii.gz")
    shutil.copy(folder / "labelsTr" / "spine_000.nii.gz", folder / "labelsTr" / "SPINE_000.nii.gz")
    edit_json(folder, numTraining=4)
    assert_found(folder, "differ only in upper/lower case")


def test_corrupt_file(dataset_copy):
    folder = dataset_copy("spine")
    path = folder / "imagesTr" / "spine_001_0000.nii.gz"
    path.write_bytes(path.read_bytes()[:100])
    assert_found(folder, "imagesTr/spine_001_0000.nii.gz: unreadable or corrupt")


def test_shape_mismatch_between_channel_and_label(dataset_copy):
    folder = dataset_copy("spine")
    rewrite(folder / "labelsTr" / "spine_002.nii.gz", lambda im: ImageData(im.array[:, :-3], im.geometry))
    assert_found(folder, "labelsTr/spine_002.nii.gz: label does not match the images: shape")


def test_spacing_origin_direction_mismatch(dataset_copy):
    folder = dataset_copy("spine")

    def shifted(image):
        g = image.geometry
        return ImageData(image.array, Geometry((g.spacing[0] * 1.1, g.spacing[1]), (g.origin[0] + 5, g.origin[1]), (0.0, 1.0, 1.0, 0.0)))

    rewrite(folder / "imagesTr" / "spine_000_0001.nii.gz", shifted)
    problems = assert_found(folder, "imagesTr/spine_000_0001.nii.gz: does not match spine_000_0000.nii.gz")
    message = next(p for p in problems if "spine_000_0001" in p)
    assert "spacing" in message and "origin" in message and "direction" in message


def test_small_geometry_differences_are_tolerated(dataset_copy):
    folder = dataset_copy("spine")

    def nudged(image):
        g = image.geometry
        return ImageData(image.array, Geometry(tuple(s * (1 + 1e-5) for s in g.spacing), tuple(o + 1e-5 for o in g.origin), g.direction))

    rewrite(folder / "labelsTr" / "spine_000.nii.gz", nudged)
    assert problems_of(folder) == []


def test_undeclared_label_values(dataset_copy):
    folder = dataset_copy("spine")

    def plant(image):
        array = image.array.copy()
        array[0, 0, 0] = 7
        return ImageData(array, image.geometry)

    rewrite(folder / "labelsTr" / "spine_001.nii.gz", plant)
    assert_found(folder, "label values [7] are not declared")


def test_nan_and_inf(dataset_copy):
    folder = dataset_copy("spine")

    def plant(image):
        array = image.array.copy()
        array[0, 5, 5], array[0, 6, 6] = np.nan, np.inf
        return ImageData(array, image.geometry)

    rewrite(folder / "imagesTr" / "spine_002_0001.nii.gz", plant)
    assert_found(folder, "imagesTr/spine_002_0001.nii.gz: contains 2 NaN/Inf")


def test_empty_image(dataset_copy):
    folder = dataset_copy("spine")
    rewrite(folder / "imagesTr" / "spine_001_0001.nii.gz", lambda im: ImageData(np.zeros_like(im.array), im.geometry))
    assert_found(folder, "imagesTr/spine_001_0001.nii.gz: is empty: every voxel has the value 0")


def test_missing_label_file(dataset_copy):
    folder = dataset_copy("spine")
    (folder / "labelsTr" / "spine_000.nii.gz").unlink()
    assert_found(folder, "spine_000: no label file labelsTr/spine_000.nii.gz")


def test_test_split_is_checked_too(dataset_copy):
    folder = dataset_copy("spine")
    path = folder / "imagesTs" / "spine_003_0000.nii.gz"
    path.write_bytes(b"not an image")
    assert_found(folder, "imagesTs/spine_003_0000.nii.gz: unreadable")


def test_regression_target_on_another_grid(dataset_copy):
    folder = dataset_copy("pet", cases=2, test=0)

    def moved(image):
        g = image.geometry
        return ImageData(image.array, Geometry(g.spacing, (g.origin[0] + 3.0, *g.origin[1:]), g.direction))

    rewrite(folder / "labelsTr" / "pet_001.nii.gz", moved)
    assert_found(folder, "labelsTr/pet_001.nii.gz: regression target is on a different grid than the images: origin")


def test_classification_label_table_faults(dataset_copy):
    folder = dataset_copy("tumour2d", cases=6, test=0)
    path = folder / "labelsTr.csv"
    rows = list(csv.reader(path.open()))
    header, body = rows[0], rows[1:]
    body[1][1] = "glioma"  # undeclared class
    body = body[:-1] + [body[0], ["ghost_case", "tumour", ""]]  # last case loses its row; a duplicate; a row without images
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([header] + body)
    assert_found(
        folder,
        "class 'glioma' of case",
        f"{rows[-1][0]}: has no row in labelsTr.csv",
        "is listed more than once",
        "lists case 'ghost_case', which has no images",
    )


def test_raw_dataset_refuses_a_broken_layout_and_points_to_verify(dataset_copy):
    folder = dataset_copy("spine")
    (folder / "labelsTr" / "spine_000.nii.gz").unlink()
    try:
        RawDataset(folder).cases()
    except AutosegError as error:
        assert "spine_000" in str(error) and "autoseg verify" in str(error)
    else:
        raise AssertionError("a broken layout was accepted")


def test_raw_dataset_lists_cases_with_their_files(stand_in_cache):
    dataset = RawDataset(stand_in_cache("ad", cases=4, test=2))
    cases = dataset.cases()
    assert len(cases) == 4 and all(len(c.image_files) == 2 and c.class_index in (0, 1) and c.subject for c in cases)
    assert len(dataset.cases("test")) == 2
