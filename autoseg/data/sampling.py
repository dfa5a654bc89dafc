"""Random training patches from preprocessed cases, with forced-foreground oversampling.

A patch is taken from a case's memory-mapped arrays without reading the rest
of the case. Where the image is smaller than the patch, the patch is
zero-padded (the target too: padding is background). A *forced* patch is
centred on a voxel drawn from the case's stored foreground locations (a class
chosen uniformly among those present, so rare classes are seen as often as
common ones), shifted randomly by up to a quarter of the patch so the object
does not always sit in the middle. With sparse annotations (an ignore label)
the other patches are centred on an annotated voxel the same way, so they do
not fall where nobody labelled anything. For 2D training on 3D data a slice is
drawn along the configuration's ``slice_axis`` first (a foreground slice for
forced patches).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autoseg.data.previous_stage import load_previous_stage, perturb
from autoseg.preprocessing.storage import ANNOTATED_LOCATIONS, load_arrays, load_locations

FOREGROUND_FRACTION = 1 / 3


@dataclass
class Patch:
    data: np.ndarray  # (C, *patch) float32
    target: np.ndarray | None  # (T, *patch), labels or regression targets
    case_id: str


class CaseSampler:
    """Draws patches of ``patch_size`` from the preprocessed cases ``case_ids`` in ``folder``.

    ``previous`` ({case: file}, the cascade): each case's previous-stage prediction rides with the patch as one
    more target channel, cut from the same box (perturbed when ``perturb_previous``; autoseg/data/previous_stage.py).
    """

    def __init__(
        self,
        folder: Path,
        case_ids: list[str],
        patch_size: list[int],
        *,
        slice_axis: int | None = None,
        previous: dict[str, str] | None = None,
        perturb_previous: bool = False,
    ):
        self.folder = Path(folder)
        self.case_ids = list(case_ids)
        self.patch_size = list(patch_size)
        self.slice_axis = slice_axis
        self.previous, self.perturb_previous = previous, perturb_previous
        self._locations: dict[str, dict[str, np.ndarray]] = {}
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}

    def locations(self, case_id: str) -> dict[str, np.ndarray]:
        if case_id not in self._locations:
            self._locations[case_id] = load_locations(self.folder, case_id)
        return self._locations[case_id]

    def sample(self, rng: np.random.Generator, force_foreground: bool, case_id: str | None = None) -> Patch:
        """Returns one patch from ``case_id`` (or a random case)."""
        case_id = case_id or self.case_ids[rng.integers(len(self.case_ids))]
        if case_id not in self._arrays:  # compressed arrays: opened once, decompressed only where a patch falls
            self._arrays[case_id] = load_arrays(self.folder, case_id, lazy=True)
            if self.previous is not None:
                data, target = self._arrays[case_id]
                stage = load_previous_stage(Path(self.previous[case_id]))[None].astype(target.dtype)
                self._arrays[case_id] = (data, np.concatenate([target[...], stage]))
        data, target = self._arrays[case_id]
        locations = self.locations(case_id)
        classes = sorted(key for key in locations if key != ANNOTATED_LOCATIONS) if force_foreground else []
        points = locations[classes[rng.integers(len(classes))]] if classes else locations.get(ANNOTATED_LOCATIONS)
        centre = points[rng.integers(len(points))] if points is not None and len(points) else None
        if self.slice_axis is not None:
            index = int(centre[self.slice_axis]) if centre is not None else int(rng.integers(data.shape[1 + self.slice_axis]))
            at = (slice(None),) * (1 + self.slice_axis) + (index,)  # one slice decompressed, not the volume
            data = data[at]
            target = target[at] if target is not None else None
            if centre is not None:
                centre = np.delete(centre, self.slice_axis)
        box = self._box(data.shape[1:], centre, rng)
        target = _crop_padded(target, box) if target is not None else None
        if self.previous is not None and self.perturb_previous:
            target[-1] = perturb(target[-1], rng)
        return Patch(_crop_padded(data, box).astype(np.float32, copy=False), target, case_id)

    def _box(self, shape: tuple[int, ...], centre: np.ndarray | None, rng: np.random.Generator) -> list[int]:
        """Returns the patch's start per axis (may be negative or run past the end: padding)."""
        starts = []
        for axis, (size, patch) in enumerate(zip(shape, self.patch_size)):
            if centre is not None:
                jitter = int(rng.integers(-(patch // 4), patch // 4 + 1))
                starts.append(int(np.clip(int(centre[axis]) - patch // 2 + jitter, min(0, size - patch), max(0, size - patch))))
            elif size <= patch:
                starts.append(-int(rng.integers(0, patch - size + 1)))
            else:
                starts.append(int(rng.integers(0, size - patch + 1)))
        return [[start, start + patch] for start, patch in zip(starts, self.patch_size)]


def _crop_padded(array: np.ndarray, box: list[list[int]]) -> np.ndarray:
    """Returns ``array[:, box]`` (C, *patch), zero outside the array's extent."""
    shape = array.shape[1:]
    out = np.zeros((array.shape[0], *[stop - start for start, stop in box]), dtype=array.dtype)
    source = tuple(slice(max(start, 0), min(stop, size)) for (start, stop), size in zip(box, shape))
    destination = tuple(slice(s.start - start, s.stop - start) for s, (start, _) in zip(source, box))
    out[(slice(None), *destination)] = array[(slice(None), *source)]
    return out


def sample_batch(
    sampler: CaseSampler, batch_size: int, rng: np.random.Generator, part: tuple[int, int] | None = None
) -> dict[str, np.ndarray]:
    """Returns {'data': (B, C, *patch), 'target': (B, T, *patch), 'case_ids': [...]}.

    The last ``max(1, round(batch_size / 3))`` samples are forced-foreground, so
    every batch sees foreground however rare it is. ``part=(start, count)``
    makes only those positions of the batch (one process's share under DDP,
    with the same forced-foreground positions as the whole batch).
    """
    forced = max(1, round(batch_size * FOREGROUND_FRACTION))
    start, count = part or (0, batch_size)
    patches = [sampler.sample(rng, force_foreground=i >= batch_size - forced) for i in range(start, start + count)]
    batch = {"data": np.stack([p.data for p in patches]), "case_ids": [p.case_id for p in patches]}
    if patches[0].target is not None:
        batch["target"] = np.stack([p.target for p in patches])
    return batch
