"""``python -m lthrepro notebooks``: execute the figure notebooks with papermill into ``book/``.

Each source notebook in ``notebooks/`` reproduces one paper figure and has a cell tagged
``parameters`` (PROFILE, SEEDS, DEVICE, RESULTS_DIR, OVERRIDES). This module injects them, runs
the notebooks (training only what is missing, see ``experiments.obtain``) and writes the executed
copies plus the generated status page (``book/status.md``) that records, for every figure, which
profile, seeds, device, date and commit produced it.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from lthrepro.core import config as cfgmod
from lthrepro.core import userargs
from lthrepro.scale import figures

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "notebooks"
BOOK = ROOT / "book"

class NotebookError(RuntimeError):
    """A notebook stopped with an error (shown as its own one-line message, exit status 2)."""

def cli_command(key: str, params: dict) -> str:
    """The ``python -m lthrepro notebooks`` line that executes ``key`` with ``params``
    (``parameters`` + ``--levels`` give them back: tested in tests/test_book_pages.py)."""
    p = params["PROFILE"]
    cmd = f"python -m lthrepro notebooks --profile {p} --only {key}"
    if params["DEVICE"] != "cpu":
        cmd += f" --device {params['DEVICE']}"
    if params["RESULTS_DIR"] != (figures.SMOKE_RESULTS if p == "smoke" else "results"):
        cmd += f" --results {params['RESULTS_DIR']}"
    default = figures.parameters(key, p, params["DEVICE"], params["RESULTS_DIR"])
    if params["OVERRIDES"].get("levels") not in (None, default["OVERRIDES"].get("levels")):
        cmd += f" --levels {params['OVERRIDES']['levels']}"
    if params["SEEDS"] != default["SEEDS"]:
        cmd += " --seeds " + " ".join(str(s) for s in params["SEEDS"])
    for k in PAGE_COUNTS:
        if k in params["OVERRIDES"]:
            cmd += f" --set {k}={params['OVERRIDES'][k]}"
    executor, address = userargs.parse_executor(params.get("EXECUTOR", "local"))
    if executor != "local":  # issue 14: where missing runs trained
        cmd += f" --executor {executor}" + (f" --address {address}" if address else "")
    return cmd


def fold_parameters(nb, key: str, params: dict):
    """Hide papermill's injected parameters (``remove-cell``) and end the page with one "Run
    with" box: the parameters, once, as the commands that reproduce the page."""
    import nbformat

    from lthrepro.book.pages import run_with
    for c in nb.cells:
        tags = c.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            c.metadata["tags"] = [*tags, "remove-cell"]
    nb.cells = [c for c in nb.cells if "run-with" not in c.metadata.get("tags", [])]
    box = nbformat.v4.new_markdown_cell(run_with(figures.notebook_file(key), params, cli_command(key, params)))
    box["id"], box.metadata["tags"] = "run-with", ["run-with"]
    nb.cells.append(box)
    return nb


def execute(key: str, params: dict, out_dir: Path, cwd: Path | None = None,
            progress: bool = True) -> Path:
    """Run one source notebook with papermill; returns the executed copy. Papermill's injected
    parameters cell is folded into a "Run with" box at the end of the page: the parameters
    shown once, as the commands that reproduce the page (issue 9)."""
    import nbformat
    import papermill as pm

    from lthrepro.store import results
    src = SOURCE / figures.notebook_file(key)
    out = Path(out_dir) / src.name
    created = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
    results.check_writable(out.parent, "--out")
    out.parent.mkdir(parents=True, exist_ok=True)  # (removed again below if the notebook fails)
    # Executed under a temporary name and renamed on success: a notebook that fails (missing
    # results under --no-train, a bad parameter) never replaces a good page in book/.
    tmp = results.tmp_name(out.parent).with_suffix(".ipynb")
    try:
        pm.execute_notebook(str(src), str(tmp), parameters=params, progress_bar=progress,
                            cwd=str(cwd or ROOT), kernel_name="python3", log_output=False)
        nb = nbformat.read(tmp, as_version=4)
        nb.metadata.papermill["output_path"] = str(out)
        nbformat.write(fold_parameters(nb, key, params), tmp)
        os.replace(tmp, out)
    except pm.PapermillExecutionError as e:  # the notebook's own one-line error
        tmp.unlink(missing_ok=True)
        for p in created:  # folders made for this notebook alone go too
            if p.is_dir() and not any(p.iterdir()):
                p.rmdir()
        raise NotebookError(f"{src.name}: {e.ename}: {' '.join(str(e.evalue).split())}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return out


def status_markdown(book: Path = BOOK) -> str:
    """The status page: provenance of every result behind every executed figure page."""
    import nbformat

    from lthrepro.store import results, summaries
    lines = ["# Status of every figure", "",
             "Generated by `python -m lthrepro notebooks` from the recorded `config.json` and "
             "`provenance.json` of each result folder. Smoke rows check that the pipeline runs; "
             "they are not results.", "",
             "| Figure | Run | Profile | Seeds | Levels on disk | Device | Date | Commit | Wall time |",
             "|---|---|---|---|---|---|---|---|---|"]
    for key, fig in figures.FIGURES.items():
        nb_path = Path(book) / fig["file"]
        if not nb_path.exists():
            lines.append(f"| {key} | not executed yet | | | | | | | |")
            continue
        params = nbformat.read(nb_path, as_version=4).metadata.get("papermill", {}).get("parameters", {})
        if not params:
            lines.append(f"| {key} | no parameters recorded | | | | | | | |")
            continue
        if fig.get("stability"):  # read, never train: a status page reports what is on disk
            from lthrepro.book import stability as stability_chapter
            from lthrepro.experiments import stability
            cfg, spec = stability.make(fig["stability"], params["PROFILE"], params["SEEDS"], **params["OVERRIDES"])
            d = results.resolve_root(params["RESULTS_DIR"]) / stability.run_name(cfg, spec)
            if not (d / "config.json").exists():
                lines.append(_pending_row(key, nb_path, d.name, cfg.profile, spec.seeds))
                continue
            i = stability_chapter.info(d)
            lines.append(f"| [{key}]({nb_path.stem}) | `{i['name']}` | {i['profile']} | {i['seeds']} | "
                         f"{i['levels']} | {i['device']} | {i['date']} | | {i['wall']} |")
            continue
        for cfg in figures.configs(key, params):
            root = results.resolve_root(params["RESULTS_DIR"])
            if fig.get("earlybird"):  # not a lottery run: its own folder and provenance reader
                from lthrepro.book import earlybird as earlybird_chapter
                from lthrepro.experiments import earlybird, earlybird_tickets
                spec = earlybird_tickets.make_spec(fig["earlybird"], params.get("EPS", 0.1), params.get("KEEP", 5))
                info = {"levels": "—", **earlybird_chapter.load(earlybird.eb_dir(cfg, spec, root))["info"]}
            elif not (root / cfgmod.run_name(cfg) / "config.json").exists():  # a network still pending
                lines.append(_pending_row(key, nb_path, cfgmod.run_name(cfg), cfg.profile, cfg.seeds))
                continue
            else:
                info = summaries.run_info(root / cfgmod.run_name(cfg), cfg.seeds)
            lines.append(f"| [{key}]({nb_path.stem}) | `{info['name']}` | {info['profile']} | "
                         f"{info['seeds']} | {info['levels']} | {info['device']} | {info['date']} | "
                         f"{info['commit']} | {info['wall']} |")
    return "\n".join(lines) + "\n"


def _pending_row(key: str, nb_path: Path, name: str, profile: str, seeds) -> str:
    """The status row of a results folder not trained yet (lottery and stability pages alike)."""
    return f"| [{key}]({nb_path.stem}) | `{name}` | {profile} | {list(seeds)} | pending: no results yet | | | | |"


def params_from_args(key: str, a: argparse.Namespace) -> dict:
    """The papermill parameters ``python -m lthrepro notebooks`` gives page ``key``."""
    executor = f"ray:{a.address}" if getattr(a, "address", None) else getattr(a, "executor", "local")
    params = figures.parameters(key, a.profile, a.device, a.results, cpu_smoke=not a.full_smoke, executor=executor)
    if a.levels is not None:  # not hashed: renders the finished levels of a longer run
        params["OVERRIDES"]["levels"] = a.levels
    if getattr(a, "seeds", None):  # the trials a page reads, e.g. 2 of the paper's 5 (issue 15)
        params["SEEDS"] = list(a.seeds)
    params["OVERRIDES"].update(page_counts(getattr(a, "set", None)))
    return params


# What ``notebooks --set`` may change: which controls per trial a page reads (not hashed, so the
# same results folder), e.g. the 1 reinit per trial run so far of the paper's 3, or no one-shot
# runs yet (issue 15). Any other field is another experiment: its runs are made with ``run --set``.
PAGE_COUNTS = {"reinits": "a count of runs per trial", "random_prune": "a count of runs per trial",
               "oneshot": "reading the one-shot runs or not"}


def page_counts(items: list[str] | None) -> dict:
    """``--set reinits=1`` and the like for ``notebooks``; anything else is a one-line error."""
    over = userargs.parse_overrides(items)
    bad = [k for k in over if k not in PAGE_COUNTS]
    if bad:
        raise cfgmod.ConfigError(f"notebooks --set takes only {', '.join(PAGE_COUNTS)} (controls per trial); "
                                 f"'{bad[0]}' makes another experiment: train it with `python -m lthrepro run "
                                 f"... --set {bad[0]}=...`")
    for k, v in over.items():  # the config's own rules for these fields (config._NUMBERS)
        rule = cfgmod.field_rule(k, v)
        if rule:
            raise cfgmod.ConfigError(f"--set {k}={v!r}: {PAGE_COUNTS[k]} must be {rule}")
    return over


def cmd_notebooks(a: argparse.Namespace) -> int:
    keys = list(figures.FIGURES) if not a.only else a.only
    bad = [k for k in keys if k not in figures.FIGURES and k not in figures.DLT_PAGES]
    if bad:
        raise cfgmod.ConfigError(f"unknown figure '{bad[0]}'; choose from "
                                 f"{', '.join([*figures.FIGURES, *figures.DLT_PAGES])}")
    if a.profile not in cfgmod.PROFILES:
        raise cfgmod.ConfigError(f"unknown profile '{a.profile}'; choose one of {', '.join(cfgmod.PROFILES)}")
    userargs.check_device(a.device)
    if a.levels is not None and a.levels < 0:
        raise cfgmod.ConfigError(f"--levels {a.levels} must be 0 or more")
    if a.address and a.executor != "ray":
        raise cfgmod.ConfigError("--address names a Ray cluster; add --executor ray")
    if a.seeds is not None and (min(a.seeds) < 0 or len(set(a.seeds)) != len(a.seeds)):
        raise cfgmod.ConfigError(f"--seeds {' '.join(map(str, a.seeds))}: give each trial once, as numbers 0 or more "
                                 "(e.g. --seeds 0 1)")
    other = [k for k in keys if k not in figures.PLANNED]
    if page_counts(a.set) and other:
        raise cfgmod.ConfigError(f"--set {a.set[0]}: controls per trial apply to the LTH figure pages "
                                 f"({', '.join(figures.PLANNED)}); leave it out for '{other[0]}'")
    if a.levels is not None and other:  # (the other pages read their own protocols' levels)
        raise cfgmod.ConfigError(f"--levels renders the first levels of an LTH figure page "
                                 f"({', '.join(figures.PLANNED)}); leave it out for '{other[0]}'")
    for key in keys if a.levels is not None else ():
        most = max(c.levels for c in figures.figure_configs(key, a.profile, a.device))
        if a.levels > most:
            raise cfgmod.ConfigError(f"--levels {a.levels}: {key} at profile {a.profile} has levels 0-{most}; "
                                     f"choose --levels {most} or fewer")
    if a.no_train:
        os.environ["LTHREPRO_NO_TRAIN"] = "1"
    out = Path(a.out) if a.out else BOOK
    for i, key in enumerate(keys, 1):
        params = params_from_args(key, a)
        t0 = time.time()
        print(f"[{i}/{len(keys)}] {key}: {figures.notebook_file(key)} (profile {a.profile}, "
              f"seeds {params['SEEDS']}, device {a.device})", flush=True)
        execute(key, params, out, progress=not a.quiet)
        print(f"[{i}/{len(keys)}] {key}: done in {time.time() - t0:.0f} s -> {out / figures.notebook_file(key)}",
              flush=True)
    if out.resolve() == BOOK.resolve():
        from lthrepro.store.results import write_text
        write_text(BOOK / "status.md", status_markdown(BOOK))
        print(f"status page: {BOOK / 'status.md'}")
    return 0  # the CLI then rewrites the landing page's and README's results tables (landing)


def add_parser(sub) -> None:
    n = sub.add_parser("notebooks", help="execute the figure notebooks into book/ (papermill)")
    n.add_argument("--profile", default="budget", help=f"one of {', '.join(cfgmod.PROFILES)}")
    n.add_argument("--only", nargs="+", metavar="FIG",
                   help=f"some of {', '.join([*figures.FIGURES, *figures.DLT_PAGES])}")
    n.add_argument("--device", default="cpu")
    n.add_argument("--executor", default="local", choices=["local", "ray"],
                   help="train missing lottery runs here (local) or on a Ray cluster (EXECUTOR parameter; "
                        "the stability pages train here)")
    n.add_argument("--address", default=None, help="Ray cluster address (with --executor ray)")
    n.add_argument("--results", type=userargs.folder, default=None,
                   help=f"results root (default: results, or {figures.SMOKE_RESULTS} for smoke)")
    n.add_argument("--levels", type=userargs.int_option(0), default=None,
                   help="render only pruning levels 0..N (a run in progress, or one stopped at level N)")
    n.add_argument("--seeds", type=userargs.SEED, nargs="+", default=None,
                   help="the trials a page reads (default: the profile's), e.g. the 2 of 5 run so far")
    n.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help=f"controls per trial a page reads: {', '.join(PAGE_COUNTS)} (e.g. reinits=1, oneshot=False)")
    n.add_argument("--out", type=userargs.folder, default=None, help="folder for executed notebooks (default: book)")
    n.add_argument("--no-train", action="store_true",
                   help="fail instead of training when results are missing (LTHREPRO_NO_TRAIN=1)")
    n.add_argument("--full-smoke", action="store_true",
                   help="CIFAR smoke runs at the full smoke preset (slow on CPU)")
    n.add_argument("-q", "--quiet", action="store_true")
    n.set_defaults(fn=cmd_notebooks)
