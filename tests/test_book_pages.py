"""Issue 9: pages a reader wants to read, and a landing table that cannot go stale. No data and
no training needed: these read the source notebooks, the executed pages in book/ and the
committed results."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import nbformat
import pytest

from lthrepro.book import claims as paper
from lthrepro.book import cost, execute, landing, pages
from lthrepro.scale import figures

ROOT = Path(__file__).resolve().parent.parent
# The pages `python -m lthrepro notebooks` executes; scripts/make_notebooks.py writes their sources
# (tests/test_notebooks.py checks that it writes every source notebook, as committed).
RUNNER_FILES = sorted([f["file"] for f in figures.FIGURES.values()] + list(figures.DLT_PAGES.values()))
SOURCES = [ROOT / "notebooks" / f for f in RUNNER_FILES]
VISIBLE_CODE = ("hide-input", "remove-input", "remove-cell")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_source_notebook_layout(path):
    """Claim first; our parameters cell removed from the page; the first code cell after it
    checks the parameters; every code cell folded or removed; short cells, no def/class and
    no HTML boilerplate; one comparison table checked by nbval."""
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].metadata.tags == ["parameters", "remove-cell"]
    check = " ".join(code[1].source.split())
    # the lottery figures also take EXECUTOR (issue 14: where missing runs train)
    assert any(f"check_parameters(PROFILE=PROFILE, SEEDS=SEEDS, DEVICE=DEVICE, RESULTS_DIR=RESULTS_DIR, "
               f"OVERRIDES=OVERRIDES{extra})" in check for extra in ("", ", EXECUTOR=EXECUTOR"))
    for c in code[1:]:
        assert any(t in c.metadata.get("tags", []) for t in VISIBLE_CODE), c.source[:60]
        assert "def " not in c.source and "class " not in c.source and "HTML(" not in c.source
        assert len(c.source.splitlines()) <= 10, c.source[:60]
    assert sum(c.source.startswith("# NBVAL_CHECK_OUTPUT") for c in code) == 1


def _executed_pages() -> list[Path]:
    """Pages in the book's table of contents that the runner executes (and folds)."""
    return [ROOT / "book" / f"{s}.ipynb" for s in landing.notebook_pages() if f"{s}.ipynb" in RUNNER_FILES]


@pytest.mark.parametrize("path", _executed_pages(), ids=lambda p: p.stem)
def test_executed_page_shows_parameters_once(path):
    """Papermill's injected cell is removed from the page and one "Run with" box gives the
    parameters and the commands; the box's parameters are the ones papermill injected."""
    nb = nbformat.read(path, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "remove-cell" in injected[0].metadata.tags
    boxes = [c for c in nb.cells if "run-with" in c.metadata.get("tags", [])]
    assert len(boxes) == 1
    shown = json.loads(re.search(r"-y '(\{.*\})'", boxes[0].source)[1])
    assert shown == nb.metadata.papermill.parameters
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
                if o.output_type == "error" or "text/html" in o.get("data", {})]


def test_fold_parameters_is_idempotent():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("PROFILE = 'smoke'")
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells = [cell]
    params = figures.parameters("fig04", "budget")
    for _ in range(2):
        nb = execute.fold_parameters(nb, "fig04", params)
    assert nb.cells[0].metadata.tags == ["injected-parameters", "remove-cell"]
    assert [c.source for c in nb.cells[1:]] == [pages.run_with("fig04_lenet_pruning.ipynb", params,
                                                                execute.cli_command("fig04", params))]


@pytest.mark.parametrize("key", [*figures.FIGURES, *figures.DLT_PAGES])
@pytest.mark.parametrize("profile, device, results, levels", [
    ("budget", "cpu", None, None), ("smoke", "cpu", None, None), ("budget", "cuda", "elsewhere", 7),
    ("paper", "cpu", "results", None)])
def test_cli_command_gives_back_the_parameters(key, profile, device, results, levels):
    """The CLI line in a "Run with" box executes the page with exactly its parameters."""
    a = argparse.Namespace(profile=profile, device=device, results=results, levels=levels, full_smoke=False,
                           seeds=None, set=None)
    params = execute.params_from_args(key, a)
    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    execute.add_parser(sub)
    cmd = execute.cli_command(key, params).split()
    assert cmd[:3] == ["python", "-m", "lthrepro"]
    back = p.parse_args(cmd[3:])
    assert back.only == [key] and execute.params_from_args(key, back) == params


@pytest.mark.parametrize("key", figures.PLANNED)
def test_cli_command_gives_back_trials_and_controls(key):
    """A page rendered from the trials and controls run so far (``--seeds 0 1 --set reinits=1``,
    issue 15) says so in its "Run with" line, and that line gives the same parameters back."""
    a = argparse.Namespace(profile="paper", device="cpu", results=None, levels=None, full_smoke=False,
                           seeds=[0, 1], set=["reinits=1", "random_prune=1", "oneshot=False"])
    params = execute.params_from_args(key, a)
    assert params["SEEDS"] == [0, 1] and params["OVERRIDES"] == {"reinits": 1, "random_prune": 1, "oneshot": False}
    p = argparse.ArgumentParser()
    execute.add_parser(p.add_subparsers())
    cmd = execute.cli_command(key, params)
    assert "--seeds 0 1 --set reinits=1 --set random_prune=1 --set oneshot=False" in cmd
    assert execute.params_from_args(key, p.parse_args(cmd.split()[3:])) == params
    cfg = figures.configs(key, params)[0]  # the figure's own fields give way to the page's counts
    assert (cfg.seeds, cfg.reinits, cfg.random_prune, cfg.oneshot) == ((0, 1), 1, 1, False)


def test_toc_discovers_every_page():
    files = landing.toc_files()
    assert files[0] == "intro" and {"reproducing", "status", "fig04_lenet_pruning", "dlt_mask0"} <= set(files)
    for f in files:
        assert (ROOT / "book" / f"{f}.md").exists() or (ROOT / "book" / f"{f}.ipynb").exists(), f


def test_parse_table_round_trip():
    t = paper.compare("fig04", {"": __import__("pandas").DataFrame(
        columns=["kind", "level", "pm", "early_stop_iter", "early_stop_test_acc", "final_test_acc"])})
    back = landing.parse_table(paper.to_markdown(t))
    assert list(back.columns) == list(t.columns) and back.values.tolist() == t.astype(str).values.tolist()


def test_landing_counts_checked_claims_from_the_results():
    """fig04's count is paper.compare on the committed results; a page whose stored table
    disagrees with the results is flagged, not counted as is."""
    page = landing.read_page("fig04_lenet_pruning")
    fresh = landing.recomputed_table("fig04_lenet_pruning", page.params)
    t = landing.tally(fresh)
    assert f"**{t['held']} of {t['held'] + t['failed']}**" in page.claims and "out of date" not in page.claims
    # the row says which profile the page shows and how much of the paper's protocol it rests on
    prof = page.params["PROFILE"]
    assert page.status.startswith(f"real results, {prof} profile") and "of 5 trials" in page.status
    # Fig. 5 shows a campaign in progress (issue 21): its pending claims are counted as such
    f5 = landing.read_page("fig05_conv")
    assert "pending" in f5.claims and "partial (a campaign in progress" in f5.status


def test_landing_does_not_recount_chapter_pages_from_lottery_runs():
    """The stability chapter's claims join paper.CLAIMS when stability_book is imported (as the
    status page does); its rows must still be counted from the page, not from lottery runs."""
    from lthrepro.book import stability as stability_book  # noqa: F401 - registers the chapter's claims
    page = landing.read_page("stab_lenet_instability")
    assert landing.recomputed_table("stab_lenet_instability", page.params) is None
    assert "out of date" not in page.claims and "checked claims hold" in page.claims


def test_landing_flags_a_stale_page(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: fig04_lenet_pruning\n")
    nb = nbformat.read(ROOT / "book" / "fig04_lenet_pruning.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.source.startswith("# NBVAL_CHECK_OUTPUT"))
    md = cell.outputs[0]["data"]["text/markdown"]
    cell.outputs[0]["data"]["text/markdown"] = md.replace("| no (", "| yes (")  # a stale "yes"
    nbformat.write(nb, book / "fig04_lenet_pruning.ipynb")
    assert "page out of date" in landing.read_page("fig04_lenet_pruning", book).claims


def test_committed_tables_are_up_to_date(tmp_path):
    """The landing page's, the README's and the re-run tables are what the generator writes
    from today's pages and results (run `make landing` after re-rendering pages)."""
    pages_ = [landing.read_page(s) for s in landing.notebook_pages()]
    for path, which, body in ((ROOT / "book" / "intro.md", "results", landing.results_table(pages_)),
                              (ROOT / "README.md", "results", landing.results_table(pages_, "book/")),
                              (ROOT / "book" / "reproducing.md", "rerun", landing.rerun_table(pages_))):
        text = path.read_text()
        assert landing.replace_between(text, which, body) == text, f"{path.name}: run `make landing`"
    for p in pages_:
        assert p.thumb is not None and p.thumb.exists(), p.stem


def test_landing_counts_inconclusive_claims():
    import pandas as pd
    t = landing.tally(pd.DataFrame({"Holds?": ["yes (> 0)", "inconclusive (trials disagree: trial 0 +1, trial 1 -1)",
                                               "inconclusive at this budget (...)", "— (approximate)"]}))
    assert landing.claims_text(t) == "**1 of 1** checked claims hold (2 inconclusive; 1 shown, not judged)"


def test_wall_time_counts_sessions_side_by_side_once():
    side = [{"started": "2026-12-01T22:11:45Z", "wall_seconds": 7495.2},
            {"started": "2026-12-01T22:11:50Z", "wall_seconds": 7556.6}]
    assert cost.wall_text(side) == "126 min (251 min of 2 sessions side by side)"
    one_after_other = [{"started": "2026-12-01T10:00:00Z", "wall_seconds": 600},
                       {"date": "2026-12-01 10:30 UTC", "wall_seconds": 600}]
    assert cost.wall_text(one_after_other) == "20 min"
