"""On-disk layout of a folder of preprocessed cases, built for fast random patch reads and names that cannot collide.

::

    {data identifier}/
      settings.json              the plan values the data was made under (plan_and_preprocess.data_settings)
      cases.json                 the case ids this folder must hold, written before any case
      cases/{case}/data.npy      float32 (C, *spatial), read memory-mapped
      cases/{case}/target.npy    label (uint8/int16) or regression targets (float32), if any
      cases/{case}/locations.npz sampled foreground voxel coordinates per class, for oversampling
      cases/{case}/properties.json  CaseProperties

Each case is a folder of fixed file names, so no legal case id can name another case's file (``X_target``
beside ``X`` was one). A case is written into a hidden temporary folder and renamed into place whole, so a case
folder exists only complete; a killed run leaves at most a hidden ``.{case}.*.tmp`` folder, removed by the next run.
Training takes exactly the cases of ``cases.json`` and refuses a folder that lacks some (``listed_cases``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from autoseg.errors import AutosegError
from autoseg.io import atomic_write, give_default_permissions
from autoseg.io.base import disk_full
from autoseg.preprocessing.pipeline import CaseProperties

LAYOUT_VERSION = 2  # recorded in settings.json: data in an older layout is preprocessed again
CASES_FOLDER = "cases"
CASE_LIST = "cases.json"
DATA, TARGET, LOCATIONS, PROPERTIES = "data.npy", "target.npy", "locations.npz", "properties.json"


def case_folder(folder: Path, case_id: str) -> Path:
    return Path(folder) / CASES_FOLDER / case_id


def save_case(
    folder: Path, data: np.ndarray, target: np.ndarray | None, locations: dict[str, np.ndarray], properties: CaseProperties
) -> None:
    """Writes one case under ``folder/cases/`` in one rename (replacing an earlier version of it)."""
    cases = Path(folder) / CASES_FOLDER
    cases.mkdir(parents=True, exist_ok=True)
    final = cases / properties.case_id
    tmp = Path(tempfile.mkdtemp(prefix=f".{properties.case_id}.", suffix=".tmp", dir=cases))
    try:
        _save_npy(tmp / DATA, data)
        if target is not None:
            _save_npy(tmp / TARGET, target)
        with open(tmp / LOCATIONS, "wb") as handle:
            np.savez(handle, **locations)
        (tmp / PROPERTIES).write_text(json.dumps(properties.to_json(), indent=2) + "\n")
        give_default_permissions(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException as error:
        full = disk_full(error, final)
        shutil.rmtree(tmp, ignore_errors=True)
        if full is not None:
            raise full from error
        raise


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, np.ascontiguousarray(array))


def write_case_list(folder: Path, case_ids: list[str]) -> None:
    """Records the cases ``folder`` must hold (before any is written), and removes the cases it holds that are
    not among them (cases removed from the raw dataset)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    atomic_write(Path(folder) / CASE_LIST, lambda tmp: tmp.write_text(json.dumps({"cases": sorted(case_ids)}, indent=2) + "\n"))
    for case_id in set(finished_cases(folder)) - set(case_ids):
        shutil.rmtree(case_folder(folder, case_id))


def listed_cases(folder: Path, command: str) -> list[str]:
    """The case ids of a finished preprocessed folder; AutosegError naming the missing cases (and ``command``, the
    one that finishes it) when preprocessing did not finish: training on the cases present would train on a
    subset without a word, and the splits made from it would stay."""
    path = Path(folder) / CASE_LIST
    if not path.is_file():
        raise AutosegError(f"{folder} holds no preprocessed cases (no {CASE_LIST}); run `{command}` first.")
    expected = json.loads(path.read_text())["cases"]
    missing = sorted(set(expected) - set(finished_cases(folder)))
    if missing:
        listed = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise AutosegError(
            f"{folder}: preprocessing did not finish ({len(missing)} of {len(expected)} cases missing: {listed}); run `{command}` again."
        )
    return expected


def is_finished(folder: Path, case_id: str) -> bool:
    return (case_folder(folder, case_id) / PROPERTIES).is_file()


def finished_cases(folder: Path) -> list[str]:
    """The case ids whose folders are in place (complete: each was renamed into place whole)."""
    cases = Path(folder) / CASES_FOLDER
    if not cases.is_dir():
        return []
    return sorted(p.name for p in cases.iterdir() if not p.name.startswith(".") and (p / PROPERTIES).is_file())


def load_properties(folder: Path, case_id: str) -> CaseProperties:
    return CaseProperties.from_json(json.loads((case_folder(folder, case_id) / PROPERTIES).read_text()))


def load_arrays(folder: Path, case_id: str, mmap: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Returns (data, target or None), memory-mapped unless ``mmap`` is False."""
    mode = "r" if mmap else None
    where = case_folder(folder, case_id)
    data = np.load(where / DATA, mmap_mode=mode)
    target = np.load(where / TARGET, mmap_mode=mode) if (where / TARGET).is_file() else None
    return data, target


def load_case(folder: Path, case_id: str, mmap: bool = True) -> tuple[np.ndarray, np.ndarray | None, CaseProperties]:
    """Returns (data, target or None, properties); arrays memory-mapped unless ``mmap`` is False."""
    return (*load_arrays(folder, case_id, mmap), load_properties(folder, case_id))


ANNOTATED_LOCATIONS = "annotated"  # locations of annotated voxels, stored where an ignore label leaves some out


def load_locations(folder: Path, case_id: str) -> dict[str, np.ndarray]:
    """{key: (N, ndim) voxel coordinates}: per class (label value, or a regression target's bright voxels), and
    ``ANNOTATED_LOCATIONS`` where the dataset has an ignore label."""
    with np.load(case_folder(folder, case_id) / LOCATIONS) as stored:
        return {key: stored[key] for key in stored.files}
