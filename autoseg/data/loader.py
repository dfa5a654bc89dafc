"""Training batches made in background processes, each batch a pure function of (seed, index).

Batch ``i`` is sampled and augmented from generators seeded with
``(seed, i)`` alone, so the sequence of batches does not depend on the number
of workers, and a run resumed at iteration ``k`` simply asks for batches
``k, k+1, ...``: no data-pipeline state needs saving in a checkpoint.

Workers keep at most ``prefetch`` batches ready, so they never outrun the
training step by more than that, and memory stays bounded.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autoseg.data.augmentation import DEFAULT_TRANSFORMS, resolve, seed_augmentation
from autoseg.data.sampling import CaseSampler, sample_batch
from autoseg.parallel import default_num_processes, ignore_interrupt


@dataclass(frozen=True)
class BatchRecipe:
    """Everything a worker needs to make any batch: picklable, and small."""

    folder: str
    case_ids: tuple[str, ...]
    patch_size: tuple[int, ...]
    batch_size: int
    mirror_axes: tuple[int, ...]
    slice_axis: int | None
    target_is_label: bool
    augment: bool
    seed: int
    part: tuple[int, int] | None = None  # (start, count) of each batch this process makes; None: all of it
    classes: tuple[int, ...] | None = None  # classification: the class index of each of case_ids (the batch's target)
    previous: tuple[tuple[str, str], ...] | None = None  # the cascade: (case, previous-stage prediction file) pairs
    perturb_previous: bool = False  # perturb the previous stage's labels (training batches)
    # Where the CPU transforms come from (with ``augment``): (module, qualified name) of a callable
    # (patch_size, mirror_axes, target_is_label) -> transforms or None, looked up in each worker (a trainer's hook).
    transforms: tuple[str, str] = DEFAULT_TRANSFORMS


_worker_state: dict = {}


def build(recipe: BatchRecipe):
    """Returns the (sampler, transforms) that ``make_batch`` needs; build once, reuse for every batch."""
    previous = dict(recipe.previous) if recipe.previous is not None else None
    sampler = CaseSampler(
        Path(recipe.folder),
        list(recipe.case_ids),
        list(recipe.patch_size),
        slice_axis=recipe.slice_axis,
        previous=previous,
        perturb_previous=recipe.perturb_previous,
    )
    factory = resolve(recipe.transforms) if recipe.augment else None
    transforms = factory(list(recipe.patch_size), list(recipe.mirror_axes), recipe.target_is_label) if factory is not None else None
    return sampler, transforms


def make_batch(recipe: BatchRecipe, index: int, built=None) -> dict[str, np.ndarray]:
    """Returns batch ``index`` of ``recipe``: {'data': (B, C, *patch) float32, 'target': (B, T, *patch) if any,
    or the class indices (B,) for classification}.

    With ``recipe.part`` set, B is the part's count: under DDP every process
    makes its own part of the same batch index.
    """
    sampler, transforms = built or build(recipe)
    key = [recipe.seed, index] if recipe.part is None else [recipe.seed, index, *recipe.part]
    rng = np.random.default_rng(key)
    batch = sample_batch(sampler, recipe.batch_size, rng, recipe.part)
    if transforms is not None:
        seed_augmentation(int(rng.integers(2**31)))
        out = transforms(data=batch["data"], seg=batch.get("target"))
        batch["data"] = out["data"]
        if "target" in batch:
            batch["target"] = out["seg"]
    result = {"data": np.ascontiguousarray(batch["data"], dtype=np.float32)}
    if "target" in batch:
        result["target"] = np.ascontiguousarray(batch["target"])
    if recipe.classes is not None:
        class_of = dict(zip(recipe.case_ids, recipe.classes))
        result["target"] = np.array([class_of[case_id] for case_id in batch["case_ids"]], dtype=np.int64)
    return result


def _init_worker(recipe: BatchRecipe) -> None:
    # Each worker does the arithmetic of one batch; more threads per worker only fight over cores.
    os.environ["OMP_NUM_THREADS"] = "1"
    ignore_interrupt()
    _worker_state["recipe"] = recipe
    _worker_state["built"] = build(recipe)


def _worker_batch(index: int) -> dict[str, np.ndarray]:
    return make_batch(_worker_state["recipe"], index, _worker_state["built"])


def default_num_workers() -> int:
    """Workers for augmentation: the CPUs available less one for the training loop, at least 1."""
    return max(1, default_num_processes() - 1)


class BatchStream:
    """Iterates over batches ``start, start+1, ..., stop-1`` of a recipe, made ahead by ``num_workers`` processes.

    ``num_workers=0`` makes every batch in this process (same batches, simpler debugging).
    ``mp_context``: the multiprocessing context of the workers (the trainer uses
    forkserver, so workers never fork a process whose torch threads are running).
    Use as a context manager, or call ``close()``.
    """

    def __init__(
        self, recipe: BatchRecipe, start: int, stop: int, *, num_workers: int | None = None, prefetch: int | None = None, mp_context=None
    ):
        self.recipe, self.next_index, self.stop = recipe, start, stop
        workers = default_num_workers() if num_workers is None else num_workers
        self.prefetch = prefetch or max(2, 2 * workers)
        self.pool = (
            ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(recipe,), mp_context=mp_context)
            if workers > 0
            else None
        )
        self.built = None if self.pool else build(recipe)
        self.pending: deque[Future] = deque()
        self.submitted = start

    def _fill(self) -> None:
        while self.pool and len(self.pending) < self.prefetch and self.submitted < self.stop:
            self.pending.append(self.pool.submit(_worker_batch, self.submitted))
            self.submitted += 1

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        if self.next_index >= self.stop:
            raise StopIteration
        if self.pool is None:
            batch = make_batch(self.recipe, self.next_index, self.built)
        else:
            self._fill()
            batch = self.pending.popleft().result()
            self._fill()
        self.next_index += 1
        return batch

    def close(self) -> None:
        if self.pool is not None:
            for future in self.pending:
                future.cancel()
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def __enter__(self) -> "BatchStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
