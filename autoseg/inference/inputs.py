"""The cases of a folder to predict: raw-layout channel files, grouped by case.

A folder in the raw layout holds ``{case}_{XXXX}{ending}`` per channel, as
``imagesTs/`` does; a model with one input channel also accepts plain
``{case}{ending}`` files. Any supported format is accepted and a case's
prediction is written in its own format (the ending of its channel 0). A
channel may also be a folder holding one DICOM series, named like the file it
replaces (``{case}_{XXXX}/``); such a case is written as NIfTI
(``{case}.nii.gz``, patient geometry) unless another output format is asked
for. Every problem in the folder is reported at once, before anything is
predicted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from autoseg.dataset.checks import non_finite_count
from autoseg.errors import AutosegError
from autoseg.io import ImageData, folder_reader, split_ending, supported_endings
from autoseg.io.dicom import DICOM_SERIES

DICOM_OUTPUT_ENDING = ".nii.gz"  # what a case read from DICOM series is written as by default

_CHANNEL = re.compile(r"^(?P<case>.+)_(?P<index>\d{4})$")


@dataclass(frozen=True)
class InputCase:
    case_id: str
    files: tuple[Path, ...]  # one per channel, in channel order
    ending: str  # as the files spell it, e.g. ".nii.gz" or ".NRRD"; ".nii.gz" for DICOM series

    @property
    def dicom_series(self) -> Path | None:
        """The folder of channel 0's DICOM series, when the case was read from DICOM."""
        return self.files[0] if self.files[0].is_dir() else None


def collect_input_cases(folder: Path, num_channels: int) -> list[InputCase]:
    """Returns the cases in ``folder`` sorted by id; raises AutosegError listing every problem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AutosegError(f"input folder {folder} does not exist.")
    channels: dict[str, dict[int, Path]] = {}
    plain: dict[str, Path] = {}
    problems = []
    for path in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
        split = _name_and_format(path)
        if split is None:
            if path.is_file():
                problems.append(f"{path.name}: not an image autoseg reads ({', '.join(sorted(supported_endings()))}, DICOM series folders)")
            continue
        stem, _ = split
        match = _CHANNEL.match(stem)
        if match:
            channels.setdefault(match["case"], {})[int(match["index"])] = path
        elif num_channels == 1:
            plain[stem] = path
        else:
            example = f"{stem}_0000/" if path.is_dir() else f"{stem}_0000{split[1]}"
            problems.append(f"{path.name}: name does not end in _XXXX (the channel index), e.g. {example}")
    cases = []
    for case_id, files in sorted(channels.items()):
        expected = list(range(num_channels))
        if sorted(files) != expected:
            wanted = ", ".join(f"_{i:04d}" for i in expected)
            found = ", ".join(f"_{i:04d}" for i in sorted(files))
            problems.append(f"case {case_id}: has channel files {found}; the model needs {wanted}")
            continue
        formats = {_name_and_format(path)[1].lower() for path in files.values()}
        if len(formats) > 1:
            problems.append(f"case {case_id}: channel files in different formats ({', '.join(sorted(formats))}); convert them to one")
            continue
        ordered = tuple(files[i] for i in expected)
        cases.append(InputCase(case_id, ordered, _output_ending(ordered[0])))
    for case_id, path in sorted(plain.items()):
        if case_id in channels:
            problems.append(f"{path.name}: case {case_id} also has _XXXX channel files; keep one naming")
        else:
            cases.append(InputCase(case_id, (path,), _output_ending(path)))
    if problems:
        raise AutosegError(f"{folder} cannot be predicted as it is:\n  " + "\n  ".join(problems))
    if not cases:
        raise AutosegError(f"{folder} holds no images to predict.")
    return sorted(cases, key=lambda case: case.case_id)


def refuse_unusable_input(image: ImageData, where: str) -> ImageData:
    """``image`` if a model can predict it; else AutosegError naming ``where``: NaN or infinite voxels (the
    whole output would be NaN) or a geometry without a usable grid (files are checked as they are read; arrays
    and in-memory images here)."""
    problems = image.geometry.problems()
    if problems:
        raise AutosegError(f"{where}: {'; '.join(problems)}.")
    bad = non_finite_count(image.array)
    if bad:
        raise AutosegError(f"{where} holds {bad} NaN or infinite value(s); replace them (e.g. with 0) and predict it again.")
    return image


def _name_and_format(path: Path) -> tuple[str, str] | None:
    """(name, ending as spelled) of an image file, (name, "DICOM series") of a DICOM series folder, else None."""
    if path.is_dir():
        return (path.name, DICOM_SERIES) if folder_reader(path) is not None else None
    return split_ending(path)


def _output_ending(path: Path) -> str:
    return DICOM_OUTPUT_ENDING if path.is_dir() else split_ending(path)[1]
