"""Portable CPU numerics: the math libraries pinned to their AVX2 code paths (issue 20, item 6).

Two x86 CPUs running the same torch wheel differ in the last bits: MKL, ATen's vectorised
kernels and oneDNN each pick code by the CPU's instruction sets, so the golden run (store/
numerics.py) gave one fingerprint per CPU kind and a result could be verified, or a chain
continued exactly, only on the kind that trained it. With all three pinned to AVX2, two kinds
agree: ``benchmarks/numerics_modes.py`` gave 148016a702d7c669 on the AMD AVX2 kind (2026-12-02)
and on the AMD AVX-512 kind (2026-12-03), whose native fingerprints differ (baa453ee9f028e06,
94381202ea389657); on the AVX-512 kind each pin alone still left a third fingerprint, so all
three are needed. Cost of the golden run: 0% on the AVX2 kind, +9% on the AVX-512 kind.

So the command line trains in this *portable* mode on x86 unless ``LTHREPRO_NUMERICS=native``; the
pins must be in the environment before torch loads its libraries, hence ``apply`` runs at the
top of ``lthrepro/__main__.py``, before anything imports torch (child processes and a local Ray
cluster inherit them). A pin the user set already is kept and the mode is then "custom". Every
run records its mode beside the fingerprint (which is computed in the process itself, so a
mode that did not take effect can never pass for one that did). This module imports no torch.
"""

from __future__ import annotations

import os
import platform
import sys

ENV = "LTHREPRO_NUMERICS"
MODES = ("portable", "native")
PINS = {"MKL_CBWR": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
X86 = ("x86_64", "amd64")  # the pins name x86 code paths; elsewhere (ARM) the mode is native
# Commands that never train in their own process tree under the CLI's pins: notebooks execute in
# kernels whose smoke runs the tests (nbval) replay in the test process's own mode.
UNPINNED_COMMANDS = frozenset({"notebooks"})


class ModeError(ValueError):
    """An unknown LTHREPRO_NUMERICS value (the CLI prints it as one line and exits with 2)."""


def requested() -> str:
    """The mode asked for in the environment: portable (the default) or native."""
    m = os.environ.get(ENV, "portable")
    if m not in MODES:
        raise ModeError(f"{ENV}={m!r} is not a numerics mode; set it to 'portable' (the default: "
                        "results agree across CPU kinds) or 'native' (the libraries' own code paths)")
    return m


def apply(argv: list[str] | None = None) -> bool:
    """Put the pins in the environment for this process and its children, if torch is not loaded
    yet, the mode is portable and the command trains; True if it set any. Never raises: a bad
    mode is reported by the CLI's ``main``."""
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    try:
        if ("torch" in sys.modules or requested() != "portable" or command in UNPINNED_COMMANDS
                or platform.machine().lower() not in X86):
            return False
    except ModeError:
        return False
    added = [k for k in PINS if k not in os.environ]
    for k in added:
        os.environ[k] = PINS[k]
    return bool(added)


def current() -> str:
    """This process's mode as its environment says: portable (all pins), native (none) or custom."""
    got = {k: os.environ.get(k) for k in PINS}
    if all(got[k] is not None and got[k].lower() == v.lower() for k, v in PINS.items()):
        return "portable"
    if all(v is None for v in got.values()):
        return "native"
    return "custom(" + ",".join(f"{k}={v}" for k, v in got.items() if v is not None) + ")"
