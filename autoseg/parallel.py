"""Parallel map over cases with a progress bar, shared by every per-case stage, and the check of a part of the
cases (``--num_parts``/``--part_id``) that one call of a stage takes."""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, TypeVar

from tqdm import tqdm

from autoseg.errors import AutosegError

# What per-case workers use: torch and the image readers take seconds to import in every new worker.
PRELOAD = ["numpy", "torch", "autoseg.io", "autoseg.tasks", "autoseg.preprocessing.pipeline"]

T = TypeVar("T")
R = TypeVar("R")


def check_part(num_parts: int, part_id: int) -> None:
    """Refuses a part that does not exist: part ``part_id`` of ``num_parts`` takes cases part_id, part_id +
    num_parts, ...; ``--part_id`` must be 0..num_parts - 1."""
    if num_parts < 1 or not 0 <= part_id < num_parts:
        raise AutosegError(f"--part_id must be in 0..{num_parts - 1} for --num_parts {num_parts}, got {part_id}.")


def default_num_processes() -> int:
    """Returns the worker count used when the user names none: the CPUs this process may use, at most 8."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        available = os.cpu_count() or 1
    return max(1, min(8, available))


def worker_context():
    """Returns the multiprocessing context for worker processes: forkserver (spawn where it is missing).

    Never fork: by the time workers start, this process usually runs threads (torch's OpenMP pool,
    export threads, tqdm's monitor), and a forked child can inherit one of their locks held and
    hang forever.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Imported once by the server (before it runs any thread), so each worker forked from it starts warm.
    context.set_forkserver_preload(PRELOAD)
    return context


def ignore_interrupt() -> None:
    """In a worker process: Ctrl-C is the main process's to handle (it stops the workers), so the terminal shows
    one line, not a traceback from every worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def map_cases(function: Callable[[T], R], items: Iterable[T], num_processes: int | None = None, desc: str = "") -> list[R]:
    """Returns ``[function(item) for item in items]``, computed in worker processes, in input order.

    ``function`` must be picklable (a module-level function or a functools.partial of one).
    With ``num_processes == 1`` everything runs in this process, which keeps tracebacks simple.
    """
    items = list(items)
    workers = min(num_processes or default_num_processes(), max(1, len(items)))
    # None lets tqdm hide the bar when stderr is not a terminal (CI logs, pipes).
    disable = None if desc and len(items) > 1 else True
    if workers == 1:
        return [function(item) for item in tqdm(items, desc=desc, disable=disable, leave=False)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=worker_context(), initializer=ignore_interrupt) as pool:
        try:
            return list(tqdm(pool.map(function, items), total=len(items), desc=desc, disable=disable, leave=False))
        except BaseException:
            # A refused case stops the stage: the cases not yet started are dropped, not computed in vain.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
