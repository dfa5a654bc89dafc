"""Reading a raw case: its images and references, checked as ``autoseg verify`` checks them.

Every stage that reads a raw case (verify, fingerprint, preprocessing) reads it here, so no stage can store or
use what verify refuses: NaN or infinite voxels, an unusable header (read_image refuses it), images and
references on different grids, label values that are fractional or not declared in dataset.json, a channel
count other than the declared one. ``inspect_case`` returns every problem (verify reports them all);
``read_case`` returns the arrays or raises the first problem as one line naming the file, the value and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autoseg.dataset.checks import content_problems, grid_problems
from autoseg.dataset.dataset_json import DatasetSpec
from autoseg.dataset.layout import Case, Problem, relative_name
from autoseg.dataset.references import REFERENCE_FORMATS
from autoseg.errors import AutosegError
from autoseg.io import Geometry, ImageData, InvalidGeometry, read_image


@dataclass
class CaseArrays:
    """A case as read: its channels ``(C, *spatial)`` on the grid of channel 0, and its references (a label map
    ``(1, *spatial)`` or regression targets ``(T, *spatial)``; None without reference files)."""

    channels: np.ndarray
    geometry: Geometry
    target: np.ndarray | None


def inspect_case(case: Case, spec: DatasetSpec, root: Path) -> tuple[CaseArrays | None, list[Problem]]:
    """Reads ``case`` of the dataset in ``root``; returns its arrays (None when a blocking problem was found) and
    every problem, blocking or not (a note, such as a label map with no annotated voxel)."""
    problems: list[Problem] = []
    images = [(path, _read(path, root, problems)) for path in case.image_files]
    readable = [(path, image) for path, image in images if image is not None]
    for path, image in readable:
        problems += content_problems(image, relative_name(path, root))
    if readable:
        first_path, first = readable[0]
        for path, image in readable[1:]:
            problems += grid_problems(image, first, relative_name(path, root), f"does not match {first_path.name}")
    if len(readable) == len(images):
        total = sum(image.num_channels for _, image in readable)
        if total != spec.num_channels:
            problems.append(
                Problem(case.case_id, f"its files hold {total} channel(s) but dataset.json declares {spec.num_channels}; fix channel_names")
            )
    if not readable:
        return None, problems
    first = readable[0][1]
    reference_format = REFERENCE_FORMATS.get(spec.task)
    references = []
    for path in case.label_files:
        reference = _read(path, root, problems)
        if reference is None:
            continue
        where = relative_name(path, root)
        found = content_problems(reference, where, check_constant=False)
        problems += found or reference_format.file_problems(reference, first, spec, where)
        references.append(reference)
    if any(problem.blocking for problem in problems):
        return None, problems
    channels = np.concatenate([image.array for _, image in readable])
    target = np.concatenate([reference.array for reference in references]) if references else None
    return CaseArrays(channels, first.geometry, target), problems


def read_case(case: Case, spec: DatasetSpec, root: Path) -> CaseArrays:
    """The arrays of ``case``; raises AutosegError naming its first blocking problem (file, value, fix)."""
    arrays, problems = inspect_case(case, spec, root)
    blocking = [problem for problem in problems if problem.blocking]
    if arrays is None or blocking:
        more = f" ({len(blocking) - 1} more problem(s) in this case)" if len(blocking) > 1 else ""
        raise AutosegError(f"{Path(root).name}/{blocking[0]}{more}. Run `autoseg verify` on the dataset for every problem at once.")
    return arrays


def _read(path: Path, root: Path, problems: list[Problem]) -> ImageData | None:
    try:
        return read_image(path)
    except InvalidGeometry as error:
        problems.append(Problem(relative_name(path, root), error.problem))
    except AutosegError as error:
        cause = error.__cause__ or error
        problems.append(Problem(relative_name(path, root), f"unreadable or corrupt: {cause}"))
    return None
