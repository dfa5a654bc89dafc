"""On-disk layout of a preprocessed case, built for fast random patch reads.

``{case}.npy``            data, float32 (C, *spatial), read memory-mapped
``{case}_target.npy``     label (uint8/int16) or regression targets (float32), if any
``{case}_locations.npz``  sampled foreground voxel coordinates per class, for oversampling
``{case}.json``           CaseProperties; written last, so its presence marks a finished case

Every file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from autoseg.io import atomic_write
from autoseg.preprocessing.pipeline import CaseProperties


def _save_npy(path: Path, array: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.save(handle, np.ascontiguousarray(array))

    atomic_write(path, write)


def save_case(
    folder: Path, data: np.ndarray, target: np.ndarray | None, locations: dict[str, np.ndarray], properties: CaseProperties
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    case_id = properties.case_id
    _save_npy(folder / f"{case_id}.npy", data)
    if target is not None:
        _save_npy(folder / f"{case_id}_target.npy", target)

    def write_locations(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **locations)

    atomic_write(folder / f"{case_id}_locations.npz", write_locations)
    atomic_write(folder / f"{case_id}.json", lambda tmp: tmp.write_text(json.dumps(properties.to_json(), indent=2) + "\n"))


def is_finished(folder: Path, case_id: str) -> bool:
    return (folder / f"{case_id}.json").is_file()


def load_properties(folder: Path, case_id: str) -> CaseProperties:
    return CaseProperties.from_json(json.loads((folder / f"{case_id}.json").read_text()))


def load_arrays(folder: Path, case_id: str, mmap: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Returns (data, target or None), memory-mapped unless ``mmap`` is False."""
    mode = "r" if mmap else None
    data = np.load(folder / f"{case_id}.npy", mmap_mode=mode)
    target_path = folder / f"{case_id}_target.npy"
    target = np.load(target_path, mmap_mode=mode) if target_path.is_file() else None
    return data, target


def load_case(folder: Path, case_id: str, mmap: bool = True) -> tuple[np.ndarray, np.ndarray | None, CaseProperties]:
    """Returns (data, target or None, properties); arrays memory-mapped unless ``mmap`` is False."""
    return (*load_arrays(folder, case_id, mmap), load_properties(folder, case_id))


ANNOTATED_LOCATIONS = "annotated"  # locations of annotated voxels, stored where an ignore label leaves some out


def load_locations(folder: Path, case_id: str) -> dict[str, np.ndarray]:
    """{key: (N, ndim) voxel coordinates}: per class (label value, or a regression target's bright voxels), and
    ``ANNOTATED_LOCATIONS`` where the dataset has an ignore label."""
    with np.load(folder / f"{case_id}_locations.npz") as stored:
        return {key: stored[key] for key in stored.files}


def finished_cases(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.json") if not p.name.startswith(".") and p.name != "settings.json")
