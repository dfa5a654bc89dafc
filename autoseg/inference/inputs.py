"""The cases of a folder to predict: raw-layout channel files, grouped by case.

A folder in the raw layout holds ``{case}_{XXXX}{ending}`` per channel, as
``imagesTs/`` does; a model with one input channel also accepts plain
``{case}{ending}`` files. Any supported format is accepted and a case's
prediction is written in its own format (the ending of its channel 0).
Every problem in the folder is reported at once, before anything is
predicted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from autoseg.errors import AutosegError
from autoseg.io.base import split_ending, supported_endings

_CHANNEL = re.compile(r"^(?P<case>.+)_(?P<index>\d{4})$")


@dataclass(frozen=True)
class InputCase:
    case_id: str
    files: tuple[Path, ...]  # one per channel, in channel order
    ending: str  # as the files spell it, e.g. ".nii.gz" or ".NRRD"


def collect_input_cases(folder: Path, num_channels: int) -> list[InputCase]:
    """Returns the cases in ``folder`` sorted by id; raises AutosegError listing every problem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AutosegError(f"input folder {folder} does not exist.")
    channels: dict[str, dict[int, Path]] = {}
    plain: dict[str, Path] = {}
    problems = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        split = split_ending(path)
        if split is None:
            problems.append(f"{path.name}: not an image autoseg reads ({', '.join(sorted(supported_endings()))})")
            continue
        stem, _ = split
        match = _CHANNEL.match(stem)
        if match:
            channels.setdefault(match["case"], {})[int(match["index"])] = path
        elif num_channels == 1:
            plain[stem] = path
        else:
            problems.append(f"{path.name}: name does not end in _XXXX (the channel index), e.g. {stem}_0000{split[1]}")
    cases = []
    for case_id, files in sorted(channels.items()):
        expected = list(range(num_channels))
        if sorted(files) != expected:
            wanted = ", ".join(f"_{i:04d}" for i in expected)
            found = ", ".join(f"_{i:04d}" for i in sorted(files))
            problems.append(f"case {case_id}: has channel files {found}; the model needs {wanted}")
            continue
        endings = {split_ending(path)[1].lower() for path in files.values()}
        if len(endings) > 1:
            problems.append(f"case {case_id}: channel files in different formats ({', '.join(sorted(endings))}); convert them to one")
            continue
        ordered = tuple(files[i] for i in expected)
        cases.append(InputCase(case_id, ordered, split_ending(ordered[0])[1]))
    for case_id, path in sorted(plain.items()):
        if case_id in channels:
            problems.append(f"{path.name}: case {case_id} also has _XXXX channel files; keep one naming")
        else:
            cases.append(InputCase(case_id, (path,), split_ending(path)[1]))
    if problems:
        raise AutosegError(f"{folder} cannot be predicted as it is:\n  " + "\n  ".join(problems))
    if not cases:
        raise AutosegError(f"{folder} holds no images to predict.")
    return sorted(cases, key=lambda case: case.case_id)
