"""core/allocator.py: freed CPU memory is kept for reuse (issue 21), and only where it comes from
changes (the golden numerics run, tests/test_numerics.py, checks the numbers)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# Allocate, touch, free and allocate again 256 MB; print the page faults of the second round.
PROBE = """
import resource, sys, torch
from lthrepro.core import allocator
on = allocator.keep_freed_memory() if sys.argv[1] == "keep" else False
t = torch.ones(64 * 2**20); del t
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
t = torch.ones(64 * 2**20)
print(on, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
"""


def _faults(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    on, n = out.stdout.split()
    return on, int(n)


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_freed_memory_is_reused_without_page_faults():
    on, kept = _faults("keep")
    off, default = _faults("system")
    assert on == "True" and off == "False"
    assert default > 30_000  # glibc's default: the 256 MB block is mmapped afresh, 65,536 pages fault in
    assert kept < 1_000  # kept: the heap still holds the pages


def test_keep_freed_memory_is_idempotent():
    from lthrepro.core import allocator
    first = allocator.keep_freed_memory()
    assert allocator.keep_freed_memory() is first
