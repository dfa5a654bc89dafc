"""Cross-validation splits: by case, grouped by subject, stratified by class, written once.

``splits_final.json`` holds a list of folds, each ``{"train": [...], "val": [...]}``
of case ids. It is made once per dataset and then only read, so every
configuration and every fold job sees the same split; a user may edit it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autoseg.errors import AutosegError

DEFAULT_FOLDS = 5
DEFAULT_SEED = 12345


@dataclass(frozen=True)
class SplitCase:
    """What splitting needs to know of a case."""

    case_id: str
    class_index: int | None = None
    subject: str | None = None

    @property
    def group(self) -> str:
        return self.subject or f"case:{self.case_id}"


def make_splits(cases: list[SplitCase], num_folds: int = DEFAULT_FOLDS, seed: int = DEFAULT_SEED) -> list[dict[str, list[str]]]:
    """Returns ``num_folds`` folds; each subject's cases fall in one validation fold.

    Groups (subjects, or single cases) are shuffled with ``seed``, sorted by
    their most common class and dealt to folds so that each fold gets a
    near-equal share of every class (stratification) and of cases. A subject
    may hold cases of several classes (slices with and without a tumour).
    """
    if num_folds < 2:
        raise AutosegError(f"cross-validation needs at least 2 folds, got {num_folds}.")
    groups: dict[str, list[SplitCase]] = defaultdict(list)
    for case in cases:
        groups[case.group].append(case)
    if len(groups) < num_folds:
        raise AutosegError(f"{len(groups)} subjects cannot fill {num_folds} folds; add cases or use fewer folds.")

    def main_class(name: str) -> int | None:
        labels = [m.class_index for m in groups[name]]
        return min(set(labels), key=lambda label: (-labels.count(label), label is None, label or 0))

    rng = np.random.default_rng(seed)
    names = sorted(groups)
    order = [names[i] for i in rng.permutation(len(names))]
    order.sort(key=lambda name: (main_class(name) is None, main_class(name) or 0))
    fold_cases = [[] for _ in range(num_folds)]
    fold_sizes = np.zeros(num_folds)
    class_counts: dict[int | None, np.ndarray] = defaultdict(lambda: np.zeros(num_folds))
    for name in order:
        # The fold with the fewest of this group's main class, then the fewest cases, then the lowest index.
        target = min(range(num_folds), key=lambda f: (class_counts[main_class(name)][f], fold_sizes[f], f))
        fold_cases[target] += [m.case_id for m in groups[name]]
        fold_sizes[target] += len(groups[name])
        for member in groups[name]:
            class_counts[member.class_index][target] += 1
    all_ids = sorted(c.case_id for c in cases)
    return [{"train": sorted(set(all_ids) - set(val)), "val": sorted(val)} for val in fold_cases]


def check_splits(splits: list[dict[str, list[str]]], cases: list[SplitCase], source: str = "splits") -> None:
    """Raises AutosegError if a fold names unknown cases, or a subject is in both training and validation."""
    known = {c.case_id: c for c in cases}
    for index, fold in enumerate(splits):
        if set(fold) != {"train", "val"}:
            raise AutosegError(f"{source}: fold {index} must have exactly the keys 'train' and 'val'.")
        unknown = sorted((set(fold["train"]) | set(fold["val"])) - set(known))
        if unknown:
            raise AutosegError(f"{source}: fold {index} names cases that are not in the dataset: {', '.join(unknown[:5])}.")
        overlap = sorted(set(fold["train"]) & set(fold["val"]))
        if overlap:
            raise AutosegError(f"{source}: fold {index} has cases in both training and validation: {', '.join(overlap[:5])}.")
        subjects = {part: {known[c].subject for c in fold[part] if known[c].subject} for part in ("train", "val")}
        leaked = sorted(subjects["train"] & subjects["val"])
        if leaked:
            raise AutosegError(
                f"{source}: fold {index} has subject(s) {', '.join(leaked[:5])} in both training and validation; "
                "a subject's cases must stay in one fold, or the validation score is inflated by leakage."
            )


def load_or_create_splits(
    path: Path, cases: list[SplitCase], num_folds: int = DEFAULT_FOLDS, seed: int = DEFAULT_SEED
) -> list[dict[str, list[str]]]:
    """Returns the splits in ``path``, creating the file first if there is none.

    Creation is safe when several trainings start at once: the file is written
    under a temporary name and linked into place only if nobody else did so
    first, so all of them end up reading the same splits.
    """
    path = Path(path)
    if not path.is_file():
        splits = make_splits(cases, num_folds, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(handle, "w") as tmp:
            json.dump(splits, tmp, indent=2)
            tmp.write("\n")
        try:
            os.link(tmp_name, path)  # fails if another process created the file meanwhile
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp_name)
    try:
        splits = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise AutosegError(f"{path} is not valid JSON ({error}); fix it or delete it to make new splits.") from error
    check_splits(splits, cases, str(path))
    return splits
