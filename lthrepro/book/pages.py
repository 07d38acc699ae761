"""Markdown blocks of the book's pages that are not figures: the "run with" box papermill's
parameters become (every page). Notebooks call these so that no page carries formatting code
(issue 9: the code of a page is folded away and what a reader sees is the claim, the figure,
the table and the verdict); the supermask chapter's tables are in ``book/supermasks.py``."""

from __future__ import annotations

import json


def run_with(notebook: str, params: dict, cli: str | None = None) -> str:
    """The parameters a page was executed with, once and compactly, as the exact commands that
    reproduce it: papermill (any notebook) and, where the page has one, the lthrepro CLI."""
    shown = " · ".join(f"`{k}={json.dumps(v)}`" for k, v in params.items())
    cmds = [f"papermill notebooks/{notebook} book/{notebook} -y '{json.dumps(params)}'"] + ([cli] if cli else [])
    # MyST: the inner code fence is shorter than the admonition's fence.
    return "\n".join(["````{admonition} Run with", ":class: tip", f"Executed with {shown}.", "",
                      "```bash", *cmds, "```", "````"])
