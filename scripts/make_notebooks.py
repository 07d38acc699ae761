"""Write the source notebooks in ``notebooks/`` (committed without outputs): every one of them.

The notebooks are the project's figure recipes; their templates (``scripts/nbgen/``, one module
a chapter) keep the common structure in one place: claim (markdown) -> ``parameters`` cell ->
obtain results -> one figure -> the paper-vs-ours table (marked ``# NBVAL_CHECK_OUTPUT``) ->
verdict. No ``def``/``class`` in them: everything they compute lives in ``lthrepro``.
Run: ``python scripts/make_notebooks.py [OUT_DIR]`` (default ``notebooks/``);
tests/test_notebooks.py checks that the committed notebooks are exactly what it writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat as nbf
from nbgen import earlybird, lth, stability, supermask

ROOT = Path(__file__).resolve().parent.parent
PAGES: dict[str, nbf.NotebookNode] = {**lth.PAGES, **supermask.PAGES, **earlybird.PAGES, **stability.PAGES}


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "notebooks"
    out.mkdir(exist_ok=True)
    for name, nb in PAGES.items():
        nbf.write(nb, out / f"{name}.ipynb")
        print(out / f"{name}.ipynb")


if __name__ == "__main__":
    main()
