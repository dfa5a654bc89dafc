"""``autoseg verify``: every problem in a raw dataset, each naming the case and file."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from autoseg.dataset.dataset_json import DatasetSpec, dataset_json_problems, read_dataset_json
from autoseg.dataset.layout import Case, Problem
from autoseg.dataset.raw import collect_cases
from autoseg.dataset.reading import inspect_case
from autoseg.errors import AutosegError
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


def _check_case(item: tuple[Case, str], spec: DatasetSpec, root: Path) -> list[Problem]:
    return inspect_case(item[0], spec, root)[1]
