import json
from concurrent.futures import ProcessPoolExecutor

import pytest

from autoseg.data import SplitCase, check_splits, load_or_create_splits, make_splits
from autoseg.errors import AutosegError


def cases_with_subjects():
    cases = []
    for subject in range(12):
        label = subject % 3 == 0  # a third positive: imbalanced
        for session in range(1 + subject % 2):
            cases.append(SplitCase(f"s{subject:02d}_{session}", int(label), f"subject_{subject:02d}"))
    return cases


def test_every_case_is_validated_exactly_once_and_splits_are_seeded():
    cases = [SplitCase(f"case_{i:02d}") for i in range(23)]
    splits = make_splits(cases)
    assert len(splits) == 5
    validated = sorted(c for fold in splits for c in fold["val"])
    assert validated == sorted(c.case_id for c in cases)
    assert all(set(f["train"]) | set(f["val"]) == {c.case_id for c in cases} for f in splits)
    assert sorted(len(f["val"]) for f in splits) == [4, 4, 5, 5, 5]
    assert make_splits(cases, seed=1) == make_splits(cases, seed=1) != make_splits(cases, seed=2)


def test_subjects_never_span_training_and_validation_and_classes_are_stratified():
    cases = cases_with_subjects()
    splits = make_splits(cases, num_folds=4)
    check_splits(splits, cases)
    subject_of = {c.case_id: c.subject for c in cases}
    for fold in splits:
        assert not {subject_of[c] for c in fold["train"]} & {subject_of[c] for c in fold["val"]}
    positives = [sum(c.class_index for c in cases if c.case_id in fold["val"]) for fold in splits]
    assert max(positives) - min(positives) <= 2 and min(positives) >= 1


def test_a_leaking_split_is_refused():
    cases = cases_with_subjects()
    splits = make_splits(cases, num_folds=4)
    moved = next(c for c in cases if c.case_id.endswith("_1"))  # a subject with two sessions
    sibling = moved.case_id[:-1] + "0"
    fold = next(f for f in splits if sibling in f["val"])
    fold["val"].remove(sibling)
    fold["train"].append(sibling)
    with pytest.raises(AutosegError, match="in both training and validation"):
        check_splits(splits, cases)


def test_bad_requests_are_explained():
    with pytest.raises(AutosegError, match="cannot fill 5 folds"):
        make_splits([SplitCase("a"), SplitCase("b")])


def test_a_subject_with_cases_of_both_classes_stays_in_one_fold():
    # Slices of one patient, some with a tumour and some without, plus single-slice patients.
    cases = [SplitCase(f"p0_{i}", i % 2, "p0") for i in range(4)] + [SplitCase(f"x{i}", i % 2) for i in range(10)]
    splits = make_splits(cases, num_folds=5)
    assert sum(all(f"p0_{i}" in fold["val"] for i in range(4)) for fold in splits) == 1
    check_splits(splits, cases)


def _create(args):
    path, cases = args
    return load_or_create_splits(path, cases)


def test_file_is_made_once_even_by_concurrent_trainings(tmp_path):
    cases = [SplitCase(f"case_{i:02d}") for i in range(10)]
    path = tmp_path / "splits_final.json"
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_create, [(path, cases)] * 4))
    assert all(r == results[0] for r in results)
    assert [p.name for p in tmp_path.iterdir()] == ["splits_final.json"]
    edited = results[0]
    edited[0]["val"], edited[1]["val"] = edited[1]["val"], edited[0]["val"]
    edited[0]["train"], edited[1]["train"] = edited[1]["train"], edited[0]["train"]
    path.write_text(json.dumps(edited))
    assert load_or_create_splits(path, cases) == edited  # a user's edit is kept
    path.write_text(json.dumps([{"train": ["nope"], "val": []}]))
    with pytest.raises(AutosegError, match="not in the dataset: nope"):
        load_or_create_splits(path, cases)
