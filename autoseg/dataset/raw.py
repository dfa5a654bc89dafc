"""The raw dataset layout: finding each case's files (its references through its kind's format, references.py).

::

    DatasetXXX_Name/
      dataset.json
      imagesTr/{case}_{XXXX}{ending}   one file per channel (XXXX = 0000, 0001, ...)
      labelsTr/{case}{ending}          segmentation labels or a regression target
      labelsTr/{case}_{XXXX}{ending}   regression with several targets
      labelsTr.csv                     classification: case_id,label[,subject]
      imagesTs/, labelsTs/, labelsTs.csv   optional held-out cases, same naming

Discovery never raises for a malformed layout: it returns what it found and a
list of problems, so ``autoseg verify`` can report them all and later stages
can refuse to start.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from autoseg.dataset.dataset_json import DatasetSpec, load_dataset_spec
from autoseg.dataset.layout import MULTICHANNEL_FILE_ENDINGS, SPLITS, Case, Problem, channel_files
from autoseg.dataset.references import REFERENCE_FORMATS
from autoseg.errors import AutosegError


def collect_cases(root: Path, spec: DatasetSpec, split: str = "train") -> tuple[list[Case], list[Problem]]:
    """Finds the cases of ``split`` ('train' or 'test') and every layout problem among them.

    A case whose files are incomplete is reported and left out of the returned list.
    """
    images_name = SPLITS[split][0]
    images_dir = root / images_name
    if not images_dir.is_dir():
        if split == "test":
            return [], []
        return [], [Problem(images_name, "folder is missing; training images go in imagesTr/")]

    ending = spec.file_ending
    by_case, problems = channel_files(images_dir, ending, root)
    cases: list[Case] = []
    for case_id in sorted(by_case):
        files = by_case[case_id]
        missing = [i for i in range(max(files) + 1) if i not in files]
        if max(files) >= spec.num_channels:
            problems.append(
                Problem(
                    case_id,
                    f"has channel file {max(files):04d} but dataset.json declares {spec.num_channels} channel(s) ({_channel_list(spec)})",
                )
            )
        elif missing:
            names = ", ".join(f"{case_id}_{i:04d}{ending}" for i in missing)
            problems.append(Problem(case_id, f"missing channel file(s) {names} in {images_name}/"))
        elif len(files) < spec.num_channels and not (len(files) == 1 and ending.lower() in MULTICHANNEL_FILE_ENDINGS):
            names = ", ".join(f"{case_id}_{i:04d}{ending}" for i in range(len(files), spec.num_channels))
            problems.append(Problem(case_id, f"missing channel file(s) {names} in {images_name}/"))
        else:
            cases.append(Case(case_id, [files[i] for i in sorted(files)]))

    problems += _case_id_collisions(by_case)
    cases, reference_problems = REFERENCE_FORMATS.get(spec.task).attach(cases, root, split, spec)
    problems += reference_problems
    if split == "train" and len(by_case) != spec.num_training:
        problems.append(
            Problem(
                "dataset.json",
                f"numTraining is {spec.num_training} but {images_name}/ holds {len(by_case)} cases; set numTraining to {len(by_case)}",
            )
        )
    return cases, problems


def _channel_list(spec: DatasetSpec) -> str:
    return ", ".join(f"{i:04d}={name}" for i, name in spec.channel_names.items())


def _case_id_collisions(by_case: dict) -> list[Problem]:
    lowered: dict[str, list[str]] = defaultdict(list)
    for case_id in by_case:
        lowered[case_id.lower()].append(case_id)
    return [
        Problem(", ".join(ids), "case ids differ only in upper/lower case and collide on macOS and Windows; rename one")
        for ids in lowered.values()
        if len(ids) > 1
    ]


class RawDataset:
    """A raw dataset folder: its dataset.json and its cases, refusing to open a malformed layout."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.spec = load_dataset_spec(self.root)

    @property
    def name(self) -> str:
        return self.root.name

    def cases(self, split: str = "train") -> list[Case]:
        """Returns the cases of ``split``; raises AutosegError if the layout has problems."""
        cases, problems = collect_cases(self.root, self.spec, split)
        if problems:
            listed = "\n  - ".join(str(p) for p in problems[:10])
            more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
            raise AutosegError(
                f"{self.root}: the dataset layout has problems:\n  - {listed}{more}\nRun `autoseg verify` on it for the full report."
            )
        return cases
