"""One training of a fold at a time: a lock held while a process trains it, released by the kernel when it dies.

Two ``autoseg train`` of one fold at once would interleave their logs and write each other's checkpoints. The
first takes an exclusive ``flock`` on ``fold_K/.training.lock`` and writes who holds it (process, host, start
time) into it; the second finds it taken and is refused, naming the holder. A process killed with SIGKILL
releases its lock with its file descriptors, so a lock left behind is stale by construction: the file remains,
and the next run takes it. On shared file systems where ``flock`` is not enforced across hosts (some NFS
mounts), the lock protects only runs on one host.

The processes of one DDP run share the lock their launcher holds (``LOCK_HELD`` in their environment).
"""

from __future__ import annotations

import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from autoseg.errors import AutosegError

LOCK_FILE = ".training.lock"
LOCK_HELD = "AUTOSEG_FOLD_LOCK_HELD"  # set for the processes a locked run spawns

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


@contextmanager
def fold_lock(fold_dir: Path) -> Iterator[None]:
    """Holds ``fold_dir``'s training lock for the block; AutosegError naming the holder if another process has it."""
    if os.environ.get(LOCK_HELD) == str(fold_dir):
        yield
        return
    fold_dir.mkdir(parents=True, exist_ok=True)
    path = fold_dir / LOCK_FILE
    handle = open(path, "a+")
    try:
        _take(handle, fold_dir)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}))
        handle.flush()
        previous = os.environ.get(LOCK_HELD)
        os.environ[LOCK_HELD] = str(fold_dir)
        try:
            yield
        finally:
            _restore(previous)
    finally:
        handle.close()  # releases the lock


def _take(handle, fold_dir: Path) -> None:
    if fcntl is not None:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
    else:
        import msvcrt

        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            return
        except OSError:
            pass
    handle.seek(0)
    try:
        holder = json.loads(handle.read() or "{}")
    except ValueError:
        holder = {}
    who = f"process {holder.get('pid', '?')} on {holder.get('host', '?')} since {holder.get('since', '?')}"
    raise AutosegError(
        f"{fold_dir} is being trained by another run ({who}); two runs of one fold would write over each other's checkpoints. "
        "Wait for it to finish (or stop it), then run again (with --continue to resume it)."
    )


def _restore(previous: str | None) -> None:
    if previous is None:
        os.environ.pop(LOCK_HELD, None)
    else:
        os.environ[LOCK_HELD] = previous
