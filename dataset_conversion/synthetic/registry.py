"""Registry of seeded stand-in dataset generators, filled by a decorator."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from autoseg.errors import AutosegError
from autoseg.registry import Registry

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class StandIn:
    """A generator of one stand-in dataset.

    ``generate(raw_root, dataset_id, num_cases, num_test, seed, overwrite, zoom)`` writes
    ``DatasetXXX_<folder_name>`` into ``raw_root`` and returns its path. ``in_demo``: ``autoseg demo``
    writes it beside the dataset it trains on (not the CT one, whose clinical size takes minutes).
    """

    key: str
    dataset_id: int
    folder_name: str
    summary: str
    default_cases: int
    default_test: int
    generate: Callable[..., Path]
    in_demo: bool = True


STAND_INS: Registry[StandIn] = Registry("stand-in dataset")


def register_stand_in(
    key: str, dataset_id: int, folder_name: str, *, summary: str, default_cases: int, default_test: int, in_demo: bool = True
):
    """Decorator registering a generator function under ``key``."""

    def decorate(function: Callable[..., Path]) -> Callable[..., Path]:
        STAND_INS.add(key, StandIn(key, dataset_id, folder_name, summary, default_cases, default_test, function, in_demo))
        return function

    return decorate


def get_stand_in(key: str) -> StandIn:
    return STAND_INS.get(key)


def stand_ins() -> list[StandIn]:
    return sorted(STAND_INS, key=lambda s: s.dataset_id)


def generate_stand_in(
    key: str,
    raw_root: Path,
    *,
    dataset_id: int | None = None,
    num_cases: int | None = None,
    num_test: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
    zoom: float = 1.0,
) -> Path:
    """Writes the stand-in ``key`` into ``raw_root`` and returns the dataset folder.

    ``zoom`` scales the image grid (2 doubles each axis's voxel count and halves
    its spacing); the anatomy and field of view stay the same.
    """
    stand_in = get_stand_in(key)
    num_cases = stand_in.default_cases if num_cases is None else num_cases
    num_test = stand_in.default_test if num_test is None else num_test
    if num_cases < 1 or num_test < 0:
        raise AutosegError(f"need at least 1 training case and no negative test count; got {num_cases} and {num_test}.")
    if not 0.1 <= zoom <= 8:
        raise AutosegError(f"zoom must be between 0.1 and 8, got {zoom}.")
    return stand_in.generate(
        raw_root=Path(raw_root),
        dataset_id=stand_in.dataset_id if dataset_id is None else dataset_id,
        num_cases=num_cases,
        num_test=num_test,
        seed=seed,
        overwrite=overwrite,
        zoom=zoom,
    )


def zoomed_grid(shape: tuple[int, ...], spacing: tuple[float, ...], zoom: float) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Returns (shape, spacing) with ``zoom`` times the voxels per axis over the same field of view."""
    new_shape = tuple(max(4, round(n * zoom)) for n in shape)
    return new_shape, tuple(s * n / m for s, n, m in zip(spacing, shape, new_shape))


def case_rng(seed: int, index: int) -> np.random.Generator:
    """Returns the generator for case ``index``: a case does not change when the case count does."""
    import numpy as np

    return np.random.default_rng([seed, index])


def subject_sessions(num_cases: int, num_test: int, seed: int, draw_sessions):
    """Yields ``(split, subject_index, rng, num_sessions)`` for datasets with several cases per subject.

    ``draw_sessions(rng)`` draws a subject's session count; it is cut so that the
    splits hold exactly ``num_cases`` and ``num_test`` cases and no subject spans
    both. ``rng`` is the subject's own generator, to be used for all its sessions.
    """
    written, subject = 0, 0
    for split, count in (("train", num_cases), ("test", num_test)):
        target = written + count
        while written < target:
            rng = case_rng(seed, subject)
            sessions = int(min(draw_sessions(rng), target - written))
            yield split, subject, rng, sessions
            written += sessions
            subject += 1
