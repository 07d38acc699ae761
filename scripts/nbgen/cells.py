"""What every generated page shares: the cell tags, the paper-vs-ours table cell and the
notebook builder (cells as (kind, source[, tags]) tuples -> an nbformat notebook)."""

from __future__ import annotations

import nbformat as nbf

# What a reader sees (issue 9): claim, figure, paper-vs-ours table, verdict. Code is folded
# (``hide-input``) or removed where it only sets things up (``remove-input``: its output, a
# smoke/partial-run warning, stays); our ``parameters`` cell is removed, and papermill's
# injected one becomes a "Run with" box (``lthrepro.book.execute``).
HIDE, SETUP, GONE = ["hide-input"], ["remove-input"], ["remove-cell"]
TABLE = ('# NBVAL_CHECK_OUTPUT\ntable = claims.compare("{fig}", {frames}, smoke=PROFILE == "smoke")\n'
         "display(Markdown(claims.to_markdown(table)))")
MADE = "## How this page was made"
# The parameters every page checks first (``check_parameters(...)``, after the parameters cell).
CHECKED = "PROFILE=PROFILE, SEEDS=SEEDS, DEVICE=DEVICE, RESULTS_DIR=RESULTS_DIR, OVERRIDES=OVERRIDES"


def notebook(cells: list[tuple], ids: list[str] | None = None) -> nbf.NotebookNode:
    """Cells are (kind, source) or (kind, source, tags); kind is md, params or code (any other
    kind is a folded code cell). ``ids``: the cells' ids, where a page already has its own
    (default ``cell-00``, ``cell-01``, ...)."""
    nb = nbf.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python"}}
    for kind, src, *tags in cells:
        if kind == "md":
            nb.cells.append(nbf.v4.new_markdown_cell(src))
            continue
        c = nbf.v4.new_code_cell(src)
        c.metadata["tags"] = ["parameters", *GONE] if kind == "params" else list(tags[0] if tags else HIDE)
        nb.cells.append(c)
    ids = ids or [f"cell-{i:02d}" for i in range(len(nb.cells))]
    for i, c in zip(ids, nb.cells, strict=True):  # stable ids keep diffs small
        c["id"] = i
    return nb
