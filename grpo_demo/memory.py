"""The process's memory: what it holds (RSS), and handing freed heap pages back to the system.

Why: glibc keeps what a training step frees. A step's activations are many tensors of a few
MB, below glibc's mmap threshold once it has risen (to the largest block freed, up to 32 MB),
so they live on malloc's heap and, freed, stay mapped: after a run the app held +1.2 GB it no
longer used, more after each run (BENCHMARKS.md). ``malloc_trim(0)`` returns every arena's
free pages (glibc >= 2.8 also inside the heap, not only at its top). Elsewhere (macOS, musl)
this is a no-op."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from functools import cache


@cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        lib = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return lib if hasattr(lib, "malloc_trim") else None


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size of a process (this one by default); 0 where /proc is missing."""
    try:
        with open(f"/proc/{pid or os.getpid()}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def give_back() -> int:
    """Return freed heap pages to the system; the bytes of RSS that went (0 where glibc's
    ``malloc_trim`` is missing)."""
    lib = _libc()
    if lib is None:
        return 0
    before = rss_bytes()
    lib.malloc_trim(0)
    return max(before - rss_bytes(), 0)
