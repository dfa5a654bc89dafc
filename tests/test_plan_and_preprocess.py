"""The fingerprint -> plan -> preprocess stages through their API and CLI, on tiny stand-ins."""

import json

import numpy as np
import pytest

from autoseg.cli import main
from autoseg.dataset import RawDataset
from autoseg.errors import AutosegError
from autoseg.fingerprint import Fingerprint, merge_fingerprint_parts
from autoseg.plan_and_preprocess import plan_and_preprocess, run_fingerprint, run_plan, run_preprocess
from autoseg.plans import Plans
from autoseg.preprocessing.storage import finished_cases, listed_cases, load_arrays, load_case, load_locations


@pytest.fixture
def spine(dataset_copy, tmp_path):
    return RawDataset(dataset_copy("spine", cases=4, test=0)), tmp_path / "preprocessed" / "Dataset901_LumbarSpineDixon"


def test_stages_write_readable_json_and_preprocessed_cases(spine):
    dataset, output = spine
    plans = plan_and_preprocess(dataset, output, num_processes=1)
    fingerprint = json.loads((output / "fingerprint.json").read_text())
    assert [c["case_id"] for c in fingerprint["cases"]] == [c.case_id for c in dataset.cases()]
    assert (output / "plans.json").read_text().startswith("{\n  ")  # indented, for people
    assert Plans.load(output / "plans.json") == plans
    folder = output / "2d"
    assert finished_cases(folder) == [c.case_id for c in dataset.cases()]
    data, target, properties = load_case(folder, "spine_000")
    assert data.dtype == np.float32 and data.shape[0] == 2
    stored, _ = load_arrays(folder, "spine_000", lazy=True)  # compressed, in chunks of one channel and the patch
    patch = plans.configuration("2d").patch_size
    assert stored.chunks == (1, *[min(p, n) for p, n in zip(patch, data.shape[1:])])
    assert (folder / "cases" / "spine_000" / "data.b2nd").stat().st_size < 0.9 * data.nbytes
    assert target.dtype == np.uint8 and set(np.unique(target)) <= {0, 1, 2, 3}
    assert abs(float(np.mean(data[0]))) < 0.1  # z-scored
    locations = load_locations(folder, "spine_000")
    assert set(locations) == {"1", "2", "3"} and np.all(target[0][tuple(locations["1"].T)] == 1)


def test_rerun_skips_finished_cases_and_redoes_a_half_written_one(spine, capsys):
    dataset, output = spine
    plan_and_preprocess(dataset, output, num_processes=1)
    folder = output / "2d"
    # as if killed while the case was written: its files in a hidden temporary folder, never renamed into place
    (folder / "cases" / "spine_002").rename(folder / "cases" / ".spine_002.x1y2.tmp")
    before = (folder / "cases" / "spine_000" / "data.b2nd").stat().st_mtime_ns
    plan_and_preprocess(dataset, output, num_processes=1)
    assert "3 case(s) already done, 1 to go" in capsys.readouterr().out
    assert (folder / "cases" / "spine_000" / "data.b2nd").stat().st_mtime_ns == before and "spine_002" in finished_cases(folder)
    assert not list((folder / "cases").glob(".*"))  # the leftover removed


def test_hand_edited_plans_are_honoured(spine):
    dataset, output = spine
    plan_and_preprocess(dataset, output, num_processes=1)
    edited = json.loads((output / "plans.json").read_text())
    edited["configurations"]["2d"]["batch_size"] = 7
    edited["configurations"]["2d"]["spacing"] = [5.0, 5.0]
    (output / "plans.json").write_text(json.dumps(edited, indent=2))
    plans = plan_and_preprocess(dataset, output, num_processes=1)
    assert plans.configurations["2d"].batch_size == 7
    data, _, properties = load_case(output / "2d", "spine_000")
    expected = [round(n * s / 5.0) for n, s in zip(properties.cropped_shape, properties.spacing)]
    assert list(data.shape[1:]) == expected  # the data was redone at the edited spacing


def test_edited_plans_that_cannot_work_are_refused(spine):
    dataset, output = spine
    plan_and_preprocess(dataset, output, num_processes=1)
    edited = json.loads((output / "plans.json").read_text())
    edited["configurations"]["2d"]["patch_size"] = [100, 100]
    (output / "plans.json").write_text(json.dumps(edited))
    with pytest.raises(AutosegError, match="multiples of"):
        Plans.load(output / "plans.json")
    edited["configurations"]["2d"]["patch_size"] = [128, 128]
    edited["normalisation"]["0"]["scheme"] = "fancy"
    (output / "plans.json").write_text(json.dumps(edited))
    with pytest.raises(AutosegError, match="unknown normalisation scheme 'fancy'"):
        Plans.load(output / "plans.json")
    (output / "plans.json").write_text("{ not json")
    with pytest.raises(AutosegError, match="plans.json is not valid plans"):
        Plans.load(output / "plans.json")


def test_classification_cases_take_the_planned_input_size(dataset_copy, tmp_path):
    dataset = RawDataset(dataset_copy("ad", cases=4, test=0))
    output = tmp_path / "pre"
    plans = plan_and_preprocess(dataset, output, num_processes=1)
    size = plans.configurations["3d_fullres"].patch_size
    data, target, properties = load_case(output / "3d_fullres", dataset.cases()[0].case_id)
    assert list(data.shape[1:]) == size and target is None and properties.class_index in (0, 1) and properties.subject


def test_regression_targets_are_normalised_and_hot_spots_located(dataset_copy, tmp_path):
    from autoseg.io import read_image
    from autoseg.preprocessing.normalisation import restore_targets

    dataset = RawDataset(dataset_copy("pet", cases=2, test=0))
    plans = plan_and_preprocess(dataset, tmp_path / "pre", num_processes=1)
    _, target, properties = load_case(tmp_path / "pre" / "3d_fullres", "pet_000")
    raw = read_image(dataset.root / "labelsTr" / "pet_000.nii.gz").array
    assert target.dtype == np.float32 and target.shape == raw.shape  # same spacing here: no resampling
    box = tuple(slice(start, stop) for start, stop in properties.crop_box)
    np.testing.assert_allclose(
        restore_targets(np.asarray(target), plans.target_normalisation), raw[(slice(None), *box)], rtol=1e-5, atol=1e-5
    )
    locations = load_locations(tmp_path / "pre" / "3d_fullres", "pet_000")["high"]
    assert len(locations) > 0 and float(np.min(target[0][tuple(locations.T)])) >= float(np.percentile(target[0][target[0] > 0], 98.9))


def test_corrupt_case_fails_naming_the_file(spine):
    dataset, output = spine
    path = dataset.root / "imagesTr" / "spine_001_0001.nii.gz"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(AutosegError, match="spine_001_0001.nii.gz"):
        plan_and_preprocess(dataset, output, num_processes=1)


def test_cli_runs_each_stage_and_refuses_bad_input(dataset_copy, tmp_path, capsys):
    raw = dataset_copy("spine", cases=3, test=0).parent
    pre = tmp_path / "pre"
    common = ["--raw", str(raw), "--preprocessed", str(pre), "-np", "1"]
    assert main(["fingerprint", "-d", "901", *common]) == 0
    assert main(["plan", "-d", "901", "--gpu_memory_gb", "4", *common]) == 0
    assert "2d " in capsys.readouterr().out
    assert main(["preprocess", "-d", "901", "-c", "2d", *common]) == 0
    assert main(["preprocess", "-d", "901", "-c", "3d_fullres", *common]) == 2
    assert "configuration '3d_fullres' is not in the plans" in capsys.readouterr().err
    assert main(["plan", "-d", "901", "-pl", "nope", *common]) == 2
    assert "unknown planner 'nope'" in capsys.readouterr().err
    assert main(["plan_and_preprocess", "-d", "901", "--verify", "--overwrite", *common]) == 0


def test_fingerprint_and_preprocessing_in_parts_make_what_one_run_makes(spine, tmp_path):
    dataset, output = spine
    whole = plan_and_preprocess(dataset, output, num_processes=1)
    folder = tmp_path / "parts"
    assert run_fingerprint(dataset, folder, 1, num_parts=3, part_id=2) is None  # parts in any order, on any machine
    assert run_fingerprint(dataset, folder, 1, num_parts=3, part_id=0) is None
    with pytest.raises(AutosegError, match=r"part\(s\) 1 of 3 are missing"):
        merge_fingerprint_parts(dataset, folder, 3)
    merged = run_fingerprint(dataset, folder, 1, num_parts=3, part_id=1)  # the last part merges
    assert merged.to_json() == Fingerprint.load(output / "fingerprint.json").to_json()
    plans = run_plan(dataset, folder)
    assert plans.to_json() == whole.to_json()
    run_preprocess(dataset, folder, plans, num_processes=1, num_parts=2, part_id=1)
    data = folder / plans.configuration("2d").data_identifier
    with pytest.raises(AutosegError, match="preprocessing did not finish"):
        listed_cases(data, "autoseg preprocess")
    run_preprocess(dataset, folder, plans, num_processes=1, num_parts=2, part_id=0)
    for case_id in listed_cases(data, "autoseg preprocess"):
        ours, reference = load_case(data, case_id), load_case(output / "2d", case_id)
        np.testing.assert_array_equal(ours[0], reference[0])
        np.testing.assert_array_equal(ours[1], reference[1])


def test_plan_and_preprocess_in_parts_waits_for_the_fingerprints_and_makes_what_one_run_makes(spine, tmp_path, capsys):
    dataset, output = spine
    whole = plan_and_preprocess(dataset, output, num_processes=1)
    folder = tmp_path / "parts" / dataset.name
    common = ["-d", str(dataset.root), "--preprocessed", str(folder.parent), "-np", "1", "--num_parts", "2"]
    # part 0 alone: its fingerprint is in, part 1's is not: it waits, then gives up naming the part and the command
    assert main(["plan_and_preprocess", *common, "--part_id", "0", "--wait_minutes", "0.002"]) == 2
    err = capsys.readouterr().err
    assert "fingerprint part(s) 1 of 2" in err and "--part_id 1" in err and not (folder / "plans.json").exists()
    assert main(["plan_and_preprocess", *common, "--part_id", "1"]) == 0  # the last fingerprint part merges, plans, preprocesses
    assert main(["plan_and_preprocess", *common, "--part_id", "0"]) == 0  # now finds the merged fingerprint
    assert Plans.load(folder / "plans.json").to_json() == whole.to_json()
    assert Fingerprint.load(folder / "fingerprint.json").to_json() == Fingerprint.load(output / "fingerprint.json").to_json()
    assert listed_cases(folder / "2d", "autoseg preprocess") == finished_cases(output / "2d")
    for refused in (["--overwrite"], ["--verify"], ["--submit", "local", "--part_id", "1"]):
        assert main(["plan_and_preprocess", *common, "--part_id", "0", *refused[:1], *refused[1:]]) == 2
        assert "once first" in capsys.readouterr().err or refused[0] == "--submit"


def test_plan_and_preprocess_parts_as_local_jobs(spine, tmp_path, capsys):
    dataset, output = spine
    folder = tmp_path / "jobs" / dataset.name
    args = ["-d", str(dataset.root), "--preprocessed", str(folder.parent), "-np", "1", "--num_parts", "2", "--submit", "local"]
    assert main(["plan_and_preprocess", *args]) == 0
    out = capsys.readouterr().out
    assert "2 fingerprint job(s) finished" in out and "2 preprocessing job(s) finished" in out
    assert sorted(p.name for p in (folder / "fingerprint_parts").iterdir()) == ["part_0_of_2.npz", "part_1_of_2.npz"]
    assert listed_cases(folder / "2d", "autoseg preprocess") == [case.case_id for case in dataset.cases()]
    assert any(log.read_text() for log in (folder / "jobs").glob("*_log.out"))  # each job's own output, kept


def test_parts_starting_at_once_share_the_data_folder_and_never_delete_it(spine, tmp_path):
    """The data folder appears whole (with its settings) in one rename: the part that loses the race to create it
    uses the winner's; a folder made under other plans is refused to parts (deleting it would delete the others'
    cases), where a single run would preprocess it again."""
    from autoseg.plan_and_preprocess import _create_data_folder

    folder = tmp_path / "data" / "2d"
    _create_data_folder(folder, {"spacing": [1.0]})
    (folder / "cases").mkdir()  # another part's work
    _create_data_folder(folder, {"spacing": [1.0]})  # lost the race: fine, nothing replaced
    assert (folder / "cases").is_dir() and [p.name for p in folder.parent.iterdir()] == ["2d"]
    with pytest.raises(OSError):
        _create_data_folder(folder, {"spacing": [2.0]})
    dataset, output = spine
    plans = plan_and_preprocess(dataset, output, num_processes=1)
    settings = output / "2d" / "settings.json"
    settings.write_text(settings.read_text().replace('"layout"', '"old_layout"'))
    with pytest.raises(AutosegError, match="delete the folder once"):
        run_preprocess(dataset, output, plans, num_processes=1, num_parts=2, part_id=0)
    assert finished_cases(output / "2d")  # nothing deleted
    run_preprocess(dataset, output, plans, num_processes=1)  # one run redoes it
