"""Keep freed CPU memory in the process for reuse (issue 21: conv throughput on a CPU).

glibc serves every allocation above its mmap threshold (32 MiB at most) with a fresh ``mmap``
and unmaps it when it is freed. An evaluation chunk of Conv-2 (2,000 images: ~0.5 GB per
activation) is such an allocation, so every evaluation faults all its pages in again; and the
heap's top is trimmed back to the OS between training steps. Measured on the project's AMD CPU
(``benchmarks/allocator.py``): about 45% of an evaluation's CPU time and 10-15% of a training
step's was the kernel's (page faults). With mmap and trimming off the heap keeps those pages.

Only where memory comes from changes: torch's CPU allocator aligns every tensor to 64 bytes
either way, and the arithmetic is the same (the benchmark checks trained weights and evaluation
losses bit for bit; the golden numerics run is unchanged). The cost: a process keeps its peak
memory until it ends. A no-op where the C library is not glibc (macOS, musl) or under another
allocator (jemalloc/tcmalloc preloaded: glibc's settings then govern nothing).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc malloc.h
_state: dict[str, bool] = {}


def keep_freed_memory() -> bool:
    """Turn glibc's mmap and heap trimming off for this process (once); True if in effect."""
    if "on" not in _state:
        _state["on"] = False
        if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                _state["on"] = bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
            except (OSError, AttributeError):
                pass
    return _state["on"]
