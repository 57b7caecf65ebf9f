"""Keeping freed memory in the process on the CPU (Linux with glibc).

PyTorch allocates and frees tensors of the same sizes at every training step. By default glibc's malloc serves blocks
of more than 128 KiB with fresh pages from the kernel and hands them back when they are freed (the threshold adapts,
but trimming the heap still returns its top), so every step pays page faults and zeroing for memory it had a moment
ago: on a 2-core CPU about a tenth of the default run's step time, and single-process op timings that jump between
two levels. Telling malloc to keep what it frees makes the step reuse its memory; the process then holds on to its
peak memory until it exits."""

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1  # glibc's malloc.h: mallopt parameters
_M_MMAP_THRESHOLD = -3
# mallopt takes a C int: both at most 2**31 - 1 (a larger value would wrap around, to 0 for 4 GiB).
MMAP_THRESHOLD = 1 << 30  # blocks up to this size come from malloc's heap, not fresh pages
TRIM_THRESHOLD = 1 << 30  # free memory at the heap's top kept up to this size


def keep_freed_memory() -> bool:
    """Sets glibc malloc's mmap and trim thresholds (MMAP_THRESHOLD, TRIM_THRESHOLD) for this process; returns
    whether it could (False elsewhere than Linux with glibc, where nothing changes). `python -m stylegan.train` calls
    it when training on the CPU; the environment variables MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ do the
    same for any process."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries without mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
