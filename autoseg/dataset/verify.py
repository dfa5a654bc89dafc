"""``autoseg verify``: every problem in a raw dataset, each naming the case and file."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from autoseg.dataset.checks import grid_problems
from autoseg.dataset.dataset_json import DatasetSpec, dataset_json_problems, read_dataset_json
from autoseg.dataset.layout import Case, Problem, relative_name
from autoseg.dataset.raw import collect_cases
from autoseg.dataset.references import REFERENCE_FORMATS
from autoseg.errors import AutosegError
from autoseg.io import ImageData, read_image
from autoseg.parallel import map_cases


@dataclass
class VerifyReport:
    dataset_dir: Path
    spec: DatasetSpec | None = None
    num_cases: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(problem.blocking for problem in self.problems)

    def summary(self) -> str:
        """Returns the text `autoseg verify` prints."""
        lines = [f"{self.dataset_dir.name}:"]
        if self.spec is not None:
            counts = " + ".join(f"{n} {split}" for split, n in self.num_cases.items())
            lines[0] += f" {self.spec.task}, {self.spec.num_channels} channel(s), {counts} cases"
        blocking = [problem for problem in self.problems if problem.blocking]
        notes = [problem for problem in self.problems if not problem.blocking]
        if not blocking:
            lines.append("  no problems found.")
        else:
            lines.append(f"  {len(blocking)} problem(s) found:")
            lines += [f"  - {problem}" for problem in blocking]
        if notes:
            lines.append(f"  {len(notes)} note(s):")
            lines += [f"  - {note}" for note in notes]
        if blocking:
            lines.append("Fix these and run `autoseg verify` again.")
        return "\n".join(lines)


def verify_dataset(dataset_dir: Path, num_processes: int | None = None) -> VerifyReport:
    """Checks dataset.json, the layout and every file's content; returns all problems found."""
    report = VerifyReport(Path(dataset_dir))
    try:
        data = read_dataset_json(report.dataset_dir / "dataset.json")
    except AutosegError as error:
        report.problems.append(Problem("dataset.json", str(error)))
        return report
    spec_problems = dataset_json_problems(data)
    if spec_problems:
        report.problems += [Problem("dataset.json", message) for message in spec_problems]
        return report
    report.spec = DatasetSpec.from_json(data)
    to_check: list[tuple[Case, str]] = []
    for split in ("train", "test"):
        cases, problems = collect_cases(report.dataset_dir, report.spec, split)
        report.problems += problems
        report.num_cases[split] = len(cases)
        to_check += [(case, split) for case in cases]
    check = partial(_check_case, spec=report.spec, root=report.dataset_dir)
    for problems in map_cases(check, to_check, num_processes, desc="verify"):
        report.problems += problems
    return report


def _read(path: Path, root: Path, problems: list[Problem]) -> ImageData | None:
    try:
        return read_image(path)
    except AutosegError as error:
        cause = error.__cause__ or error
        problems.append(Problem(relative_name(path, root), f"unreadable or corrupt: {cause}"))
        return None


def _content_problems(image: ImageData, where: str, check_constant: bool) -> list[Problem]:
    array = image.array
    if array.size == 0:
        return [Problem(where, f"is empty (shape {array.shape})")]
    if np.issubdtype(array.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            return [Problem(where, f"contains {bad} NaN/Inf value(s); replace them (e.g. with 0) before training")]
    if check_constant:
        first = array.flat[0]
        if np.all(array == first):
            return [Problem(where, f"is empty: every voxel has the value {first}")]
    return []


def _check_case(item: tuple[Case, str], spec: DatasetSpec, root: Path) -> list[Problem]:
    case, split = item
    problems: list[Problem] = []
    images = [(path, _read(path, root, problems)) for path in case.image_files]
    readable = [(path, image) for path, image in images if image is not None]
    for path, image in readable:
        problems += _content_problems(image, relative_name(path, root), check_constant=True)
    if readable:
        first_path, first = readable[0]
        for path, image in readable[1:]:
            problems += grid_problems(image, first, relative_name(path, root), f"does not match {first_path.name}")
    if len(readable) == len(images):
        total = sum(image.num_channels for _, image in readable)
        if total != spec.num_channels:
            problems.append(Problem(case.case_id, f"its files hold {total} channel(s) but dataset.json declares {spec.num_channels}"))
    if not readable:
        return problems
    reference = readable[0][1]
    reference_format = REFERENCE_FORMATS.get(spec.task)
    for path in case.label_files:
        label = _read(path, root, problems)
        if label is None:
            continue
        where = relative_name(path, root)
        problems += _content_problems(label, where, check_constant=False)
        problems += reference_format.file_problems(label, reference, spec, where)
    return problems
