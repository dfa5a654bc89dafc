"""Keep freed memory in the process, so the CPU's feature maps are not page-faulted in anew each pass.

glibc serves every allocation above 32 MB with its own mmap and returns it
to the system when it is freed; the next allocation of that size then
page-faults each 4 KB page back in. torch allocates every feature map of a
forward and backward pass afresh, so on a CPU a 3D U-Net spent about a
quarter of its forward pass in those page faults (2.9-3.2 s against
2.2-2.5 s for one 56 x 96 x 64 patch pair; ``benchmarks/network_step.py``).
``keep_freed_memory`` tells glibc to serve large allocations from its heap
and to give memory back only above a high threshold: the process keeps its
peak memory for reuse instead of shrinking between passes. This is what
PyTorch's CPU tuning guides get from preloading jemalloc or tcmalloc,
without a library to install.

The command line calls it once per process (set ``AUTOSEG_MALLOC=system``
to keep glibc's defaults); scripts using the Python API may call it
themselves. Elsewhere than Linux with glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
_M_MMAP_MAX = -4
_TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int: free memory at the heap's top is returned above 2 GB
_applied = False


def keep_freed_memory() -> bool:
    """Applies the policy above to this process; returns whether it is in force."""
    global _applied
    if _applied:
        return True
    if os.environ.get("AUTOSEG_MALLOC", "").lower() == "system" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _applied = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    return _applied
