"""The dataset fingerprint: what planning needs to know about a raw dataset (fingerprint.json).

Per case: spacing, shape before and after cropping to the non-zero region,
per-class voxel counts and centroids (segmentation) or the class
(classification). Over the dataset: per-channel intensity statistics of the
foreground (the labelled voxels for segmentation, the non-zero region
otherwise) and, for regression, of the targets, all from a seeded sample of
voxels per case, so the fingerprint is deterministic.

Class centroids are given per spatial axis as a position within the case's
non-zero bounding box, from -1 (first voxel) to 1 (last). The planner uses
them to decide which axes may be mirrored.

A large dataset is fingerprinted in parts (``fingerprint_part``: cases K,
K + N, ... of part K of N, on as many machines), each written to
``fingerprint_parts/``; ``merge_fingerprint_parts`` puts them together into
the fingerprint one run would have made (each case's voxel sample is seeded
by its index in the dataset, and the samples are pooled in case order).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from autoseg.dataset import Case, DatasetSpec, RawDataset
from autoseg.dataset.reading import read_case
from autoseg.errors import AutosegError
from autoseg.io import atomic_write
from autoseg.parallel import check_part, map_cases
from autoseg.preprocessing.crop import bounding_box, nonzero_mask
from autoseg.preprocessing.resample import new_shape
from autoseg.statistics import SAMPLES_PER_CASE, sample_values
from autoseg.tasks import task_for


@dataclass
class IntensityStatistics:
    mean: float
    std: float
    median: float
    percentile_00_5: float
    percentile_99_5: float
    min: float
    max: float
    num_samples: int

    @classmethod
    def of(cls, values: np.ndarray) -> "IntensityStatistics":
        if values.size == 0:
            return cls(0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0)
        values = values.astype(np.float64)
        low, median, high = np.percentile(values, [0.5, 50.0, 99.5])
        return cls(
            float(values.mean()),
            float(values.std()),
            float(median),
            float(low),
            float(high),
            float(values.min()),
            float(values.max()),
            int(values.size),
        )


@dataclass
class CaseFingerprint:
    case_id: str
    spacing: list[float]
    shape: list[int]
    cropped_shape: list[int]
    class_voxels: dict[str, int] = field(default_factory=dict)
    class_centroids: dict[str, list[float]] = field(default_factory=dict)
    class_index: int | None = None


@dataclass
class Fingerprint:
    dataset: str
    task: str
    channel_names: dict[str, str]
    cases: list[CaseFingerprint]
    intensity_statistics: dict[str, IntensityStatistics]
    target_statistics: dict[str, IntensityStatistics] = field(default_factory=dict)
    class_counts: dict[str, int] = field(default_factory=dict)
    seed: int = 0

    @property
    def spacings(self) -> np.ndarray:
        return np.array([c.spacing for c in self.cases])

    @property
    def ndim(self) -> int:
        return len(self.cases[0].spacing)

    @property
    def singleton_axes(self) -> list[int]:
        """The axes along which every case is one voxel thick: 2D images stored as 3D files (1 x 104 x 88)."""
        shapes = np.array([c.shape for c in self.cases])
        return [axis for axis in range(self.ndim) if (shapes[:, axis] == 1).all()]

    def shapes_at(self, spacing: np.ndarray, cropped: bool = True) -> np.ndarray:
        """Returns every case's (cropped) shape after resampling to ``spacing`` (as ``new_shape``: one voxel stays one)."""
        target = tuple(float(s) for s in spacing)
        return np.array(
            [new_shape(tuple(c.cropped_shape if cropped else c.shape), tuple(c.spacing), target) for c in self.cases], dtype=float
        )

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Fingerprint":
        data = dict(data)
        data["cases"] = [CaseFingerprint(**c) for c in data["cases"]]
        for key in ("intensity_statistics", "target_statistics"):
            data[key] = {k: IntensityStatistics(**v) for k, v in data.get(key, {}).items()}
        return cls(**data)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n"))

    @classmethod
    def load(cls, path: Path) -> "Fingerprint":
        return cls.from_json(json.loads(Path(path).read_text()))


def fingerprint_case(
    item: tuple[int, Case], spec: DatasetSpec, root: Path, seed: int, samples: int = SAMPLES_PER_CASE
) -> tuple[CaseFingerprint, list[np.ndarray], list[np.ndarray]]:
    """Returns a case's fingerprint and its sampled foreground intensities per channel and per target; a case
    verify would refuse is refused (AutosegError naming the file)."""
    index, case = item
    rng = np.random.default_rng([seed, index])
    arrays = read_case(case, spec, root)
    channels, geometry, target = arrays.channels, arrays.geometry, arrays.target
    mask = nonzero_mask(channels)
    box = bounding_box(mask)
    record = CaseFingerprint(
        case.case_id,
        list(geometry.spacing),
        list(channels.shape[1:]),
        [stop - start for start, stop in box],
        class_index=case.class_index,
    )
    foreground, targets = task_for(spec).fingerprint_target(record, target, mask, box, rng)
    intensities = [sample_values(c[foreground], rng, samples) for c in channels]
    return record, intensities, targets


def compute_fingerprint(dataset: RawDataset, num_processes: int | None = None, seed: int = 0) -> Fingerprint:
    """Returns the fingerprint of ``dataset``'s training cases (see the module docstring)."""
    return _assemble(dataset, _fingerprint_cases(dataset, None, num_processes, seed), seed)


PARTS_FOLDER = "fingerprint_parts"


def _fingerprint_cases(dataset: RawDataset, part: tuple[int, int] | None, num_processes: int | None, seed: int) -> list:
    """The per-case results (record, intensity samples, target samples) of every case, or of part (K, N)'s."""
    cases = list(enumerate(dataset.cases("train")))
    if part is not None:
        cases = cases[part[0] :: part[1]]
    worker = partial(fingerprint_case, spec=dataset.spec, root=dataset.root, seed=seed)
    return map_cases(worker, cases, num_processes, desc="fingerprint")


def part_file(folder: Path, part_id: int, num_parts: int) -> Path:
    return Path(folder) / PARTS_FOLDER / f"part_{part_id}_of_{num_parts}.npz"


def fingerprint_part(
    dataset: RawDataset, folder: Path, *, num_parts: int, part_id: int, num_processes: int | None = None, seed: int = 0
) -> Path:
    """Fingerprints part ``part_id`` of ``num_parts`` (cases part_id, part_id + num_parts, ...) into
    ``folder/fingerprint_parts/``; returns the file written."""
    check_part(num_parts, part_id)
    results = _fingerprint_cases(dataset, (part_id, num_parts), num_processes, seed)
    arrays = {"header": np.array(json.dumps({"seed": seed, "cases": [asdict(r[0]) for r in results]}))}
    for index, (record, intensities, targets) in enumerate(results):
        arrays |= {f"{index}_channel_{c}": values for c, values in enumerate(intensities)}
        arrays |= {f"{index}_target_{t}": values for t, values in enumerate(targets)}
    path = part_file(folder, part_id, num_parts)
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    atomic_write(path, write)
    return path


def merge_fingerprint_parts(dataset: RawDataset, folder: Path, num_parts: int, seed: int = 0) -> Fingerprint:
    """The fingerprint of the parts in ``folder/fingerprint_parts/`` (all ``num_parts`` of them, made with ``seed``
    from this dataset's cases): equal to ``compute_fingerprint``'s. AutosegError naming what is missing or stale."""
    missing = [k for k in range(num_parts) if not part_file(folder, k, num_parts).is_file()]
    if missing:
        listed = ", ".join(map(str, missing))
        raise AutosegError(
            f"{folder / PARTS_FOLDER}: fingerprint part(s) {listed} of {num_parts} are missing; run `autoseg fingerprint -d "
            f"{dataset.name} --num_parts {num_parts} --part_id K` for each."
        )
    cases = dataset.cases("train")
    by_case: dict[str, tuple] = {}
    for part_id in range(num_parts):
        with np.load(part_file(folder, part_id, num_parts)) as stored:
            header = json.loads(str(stored["header"]))
            if header["seed"] != seed:
                raise AutosegError(f"{part_file(folder, part_id, num_parts)} was made with seed {header['seed']}, not {seed}.")
            for index, data in enumerate(header["cases"]):
                record = CaseFingerprint(**data)
                channels = [stored[f"{index}_channel_{c}"] for c in range(dataset.spec.num_channels)]
                count = sum(key.startswith(f"{index}_target_") for key in stored.files)
                targets = [stored[f"{index}_target_{t}"] for t in range(count)]
                by_case[record.case_id] = (record, channels, targets)
    expected = [case.case_id for case in cases]
    if sorted(by_case) != sorted(expected):
        raise AutosegError(
            f"{folder / PARTS_FOLDER} holds the fingerprints of other cases than {dataset.name}'s (the dataset changed since): delete "
            "the folder and fingerprint the parts again."
        )
    return _assemble(dataset, [by_case[case_id] for case_id in expected], seed)


def _assemble(dataset: RawDataset, results: list, seed: int) -> Fingerprint:
    """The fingerprint of the per-case results, in case order."""
    spec = dataset.spec
    records = [r[0] for r in results]
    intensity = {str(c): IntensityStatistics.of(np.concatenate([r[1][c] for r in results])) for c in range(spec.num_channels)}
    num_targets = len(results[0][2]) if results else 0
    targets = {str(t): IntensityStatistics.of(np.concatenate([r[2][t] for r in results])) for t in range(num_targets)}
    class_counts = {name: sum(r.class_index == index for r in records) for name, index in spec.classes.items()}
    return Fingerprint(
        dataset=dataset.name,
        task=spec.task,
        channel_names={str(k): v for k, v in spec.channel_names.items()},
        cases=records,
        intensity_statistics=intensity,
        target_statistics=targets,
        class_counts=class_counts,
        seed=seed,
    )
