"""Command line: ``python -m lthrepro {run,plan,list,verify,notebooks,supermasks,bench} ...`` (a thin layer).

Bad input (unknown preset or profile, a rate outside [0, 1), missing or corrupt data, an
unwritable results folder) prints one line naming the problem and the fix, and exits with 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from lthrepro.store import portable

portable.apply()  # before anything imports torch: committed runs train in portable numerics (issue 20)

from lthrepro.core import config as cfgmod  # noqa: E402
from lthrepro.core import presets, userargs  # noqa: E402


def build_config(a: argparse.Namespace) -> cfgmod.Config:
    over = userargs.parse_overrides(a.set)
    for key, given in (("seeds", a.seeds), ("levels", a.levels), ("rates", a.rate)):
        if given is not None and key in over:
            raise cfgmod.ConfigError(f"{key} given by both --set and --{key.rstrip('s') if key == 'rates' else key}; "
                                     "give it once")
    if a.seeds is not None:
        over["seeds"] = tuple(a.seeds)
    if a.levels is not None:
        over["levels"] = a.levels
    if a.rate is not None:
        over["rates"] = tuple((k, a.rate if k != "output" else a.rate / 2)
                              for k, _ in presets.PRESETS[a.preset].rates) if a.preset in presets.PRESETS else ()
    return presets.make_config(a.preset, a.profile, a.variant, **over)


def targets(a: argparse.Namespace) -> list[cfgmod.Config]:
    """The configs of a preset (with --variant, --rate, ...) or of a figure (``figures.FIGURES``)."""
    from lthrepro.scale import figures
    if a.preset not in figures.FIGURES:
        return [build_config(a)]  # (a stability page is refused by figure_configs)
    if a.variant or getattr(a, "rate", None) is not None:
        raise cfgmod.ConfigError(f"--variant and --rate choose one preset's config; '{a.preset}' is a figure "
                                 "(give a preset such as conv2 instead)")
    over = userargs.parse_overrides(a.set)
    if a.levels is not None:
        if "levels" in over:
            raise cfgmod.ConfigError("levels given by both --set and --levels; give it once")
        over["levels"] = a.levels
    return figures.figure_configs(a.preset, a.profile, a.device, seeds=a.seeds, **over)


def cmd_run(a: argparse.Namespace) -> int:
    from lthrepro.scale import executors
    from lthrepro.store import results
    userargs.check_device(a.device)
    userargs.check_group(a.group)
    if a.address and a.executor != "ray":
        raise cfgmod.ConfigError("--address names a Ray cluster; add --executor ray")
    cfgs = targets(a)
    root = Path(a.results) if a.results else None
    if root is None and all(c.profile == "smoke" for c in cfgs) and not os.environ.get("LTHREPRO_RESULTS"):
        root = results.smoke_root()  # smoke runs never land in the committed results/
        print(f"smoke run: results go to {root} (not results/; choose with --results DIR)", flush=True)
    dirs, finished = executors.execute(cfgs, a.device, root, a.executor, a.address, a.deadline,
                                       log=(lambda m: None) if a.quiet else print,
                                       started=a.started, progress=not a.quiet, max_group=a.group,
                                       force=a.force)
    for d in dirs:
        print(f"results: {d}")
        if (d / "summary.csv").exists():
            print((d / "summary.csv").read_text() if a.verbose else f"summary: {d / 'summary.csv'}")
    if not finished:
        print("stopped at the deadline with levels left; run the same command again to continue")
        return executors.STOPPED
    return 0


def cmd_plan(a: argparse.Namespace) -> int:
    from lthrepro.scale import figures, plan
    from lthrepro.store import results
    userargs.check_device(a.device, exists=False)  # an estimate for a device elsewhere
    root = Path(a.results) if a.results else None
    if root is None and a.profile == "smoke" and not os.environ.get("LTHREPRO_RESULTS"):
        root = results.smoke_root()  # where `run` puts smoke results
    names = figures.PLANNED if a.preset == "all" else [a.preset]
    if a.markdown and a.preset == "all":
        figs = {n: figures.figure_configs(n, a.profile, a.device) for n in names}
        print(plan.figures_markdown(figs, a.device, root), end="")
        return 0
    for n in names:
        a.preset = n
        ts = plan.tasks(targets(a), a.device, root)
        print(plan.markdown([(n, ts)], a.device) + "\n" + plan.rate_notes(ts) if a.markdown else
              plan.describe(ts, f"plan {n}: profile {a.profile}, device {a.device}, results {root or 'results'}"))
    return 0


def cmd_earlybird(a: argparse.Namespace) -> int:
    from lthrepro.experiments import earlybird, earlybird_tickets
    kind = earlybird_tickets.SPECS.get(a.preset, {}).get("kind")
    for opt, given, wants in (("--ratios", a.ratios, "channels"), ("--levels", a.levels, "weights")):
        if given is not None and kind and kind != wants:
            other = "--levels (IMP levels)" if kind == "weights" else "--ratios (pruned channel ratios)"
            raise cfgmod.ConfigError(f"{opt} does not apply to {a.preset}, whose masks take {other}")
    spec = earlybird_tickets.make_spec(a.preset, a.eps, a.keep, a.ratios if a.ratios is not None else a.levels)
    userargs.check_device(a.device)
    sets, seeds = userargs.parse_overrides(a.set), a.seeds
    if "seeds" in sets:  # (one seeds argument of earlybird.run)
        if seeds:
            raise cfgmod.ConfigError("seeds given by both --seeds and --set seeds; give them once")
        seeds = sets.pop("seeds")
        if not isinstance(seeds, tuple) or not seeds:
            raise cfgmod.ConfigError(f"seeds is {seeds!r}; give a list of seeds, e.g. --set seeds=[0,1]")
    d = earlybird.run(a.preset, a.profile, a.device, a.results, seeds, spec, force=a.force, **sets)
    print(f"results: {d}\nsummary: {d / 'summary.csv'}")
    return 0


def cmd_list(a: argparse.Namespace) -> int:
    from lthrepro.core import models
    from lthrepro.store import results
    print(f"{'preset':<10} {'model':<9} {'data':<8} {'weights':>10} {'iterations':>10}  optimizer")
    for name, c in presets.PRESETS.items():
        print(f"{name:<10} {c.model:<9} {c.dataset:<8} {models.count_weights(c.model):>10,} "
              f"{c.iterations:>10,}  {c.optimizer} {c.lr:g}")
    print(f"profiles: {', '.join(cfgmod.PROFILES)}; variants: {', '.join(presets.VARIANTS)}")
    if a.verbose:
        for p in cfgmod.PROFILES:
            print(p, presets.make_config(a.preset or "lenet", p))
    root = results.results_root()
    runs = sorted(d for d in root.glob("*-*") if (d / "config.json").exists()) if root.is_dir() else []
    if runs:
        from lthrepro.store import numerics, summaries
        print(f"results in {root} (reproduces: does today's code give the recorded numerics fingerprint?):")
        fp = numerics.fingerprint("cpu")
        damaged = []
        for d in runs:  # a damaged folder is listed with the fix, the others as usual
            try:
                prof = results.read_json(d / "config.json")["config"]["profile"]
                n = len(summaries.collect(d))
                rep = numerics.reproduces(d, fp)
            except (results.ResultsError, cfgmod.ConfigError, KeyError, TypeError) as e:
                print(f"  {d.name:<28} unreadable: {' '.join(str(e).split())}")
                damaged.append(d.name)
                continue
            print(f"  {d.name:<28} {prof:<7} {n:>4} runs  reproduces: {rep}")
        if damaged:  # a committed file that cannot be read is an error, not a listing detail
            raise results.ResultsError(f"{len(damaged)} result folder(s) in {root} hold unreadable files "
                                       f"(first: {damaged[0]}); each is listed above with its repair")
    return 0


def cmd_verify(a: argparse.Namespace) -> int:
    from lthrepro.scale import verify
    from lthrepro.store import results
    userargs.check_device(a.device)
    d = Path(a.result)
    if not d.exists() and not d.is_absolute():
        d = results.results_root() / a.result
    ok, report = verify.verify(d, a.levels, a.device)
    print(report)
    return 0 if ok else 1


def _process_start() -> float:
    """When this process started (Linux /proc; else now). A --deadline bounds the command's whole
    wall time, so it counts from here: importing torch can take seconds on a loaded machine."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22: start time after boot
        with open("/proc/uptime") as f:
            up = float(f.read().split()[0])
        t = time.time() - up + ticks / os.sysconf("SC_CLK_TCK")
        return t if t <= time.time() else time.time()
    except (OSError, ValueError, IndexError):
        return time.time()


def main(argv: list[str] | None = None) -> int:
    # a --deadline counts from the command's start (in-process calls: from this call)
    started = _process_start() if argv is None else time.time()
    p = userargs.Parser(prog="lthrepro", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=userargs.Parser)
    r = sub.add_parser("run", help="run (or resume) a lottery experiment")
    r.add_argument("preset")
    r.add_argument("--profile", default="budget")
    r.add_argument("--variant", default=None, help=f"one of {', '.join(presets.VARIANTS)}")
    r.add_argument("--seeds", type=userargs.SEED, nargs="+")
    r.add_argument("--levels", type=userargs.int_option(0))
    r.add_argument("--rate", type=userargs.float_option(0, 1, lo_ok=True),
                   help="fc/conv pruning rate (output layer at half)")
    r.add_argument("--device", default="cpu")
    r.add_argument("--group", type=userargs.int_option(1), default=None, help="max runs trained together")
    r.add_argument("--results", type=userargs.folder, default=None,
                   help="results root (default: ./results; smoke runs: _build/smoke-results)")
    r.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field")
    r.add_argument("--executor", default="local", choices=["local", "ray"],
                   help="local: this process (default); ray: one Ray task per level of each trial")
    r.add_argument("--address", default=None, help="Ray cluster address (HOST:PORT, auto); default: a new local one")
    r.add_argument("--deadline", type=userargs.DEADLINE, default=None, metavar="SECONDS",
                   help="stop cleanly within SECONDS: most needed levels first, none started that cannot "
                        "finish, finished levels kept (exit status 75 when work is left)")
    r.add_argument("--force", action="store_true",
                   help="extend a results folder trained under other numerics (the mix is recorded)")
    r.add_argument("-q", "--quiet", action="store_true")
    r.add_argument("-v", "--verbose", action="store_true")
    r.set_defaults(fn=cmd_run)
    pl = sub.add_parser("plan", help="the independent tasks of a figure or preset, their cost and what exists")
    pl.add_argument("preset", help="a preset, a figure (fig05, ...) or all")
    pl.add_argument("--profile", default="budget")
    pl.add_argument("--variant", default=None)
    pl.add_argument("--seeds", type=userargs.SEED, nargs="+")
    pl.add_argument("--levels", type=userargs.int_option(0))
    pl.add_argument("--device", default="cuda", help="the device the estimate is for (default cuda)")
    pl.add_argument("--results", type=userargs.folder, default=None, help="results root (default: ./results)")
    pl.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field")
    pl.add_argument("--markdown", action="store_true", help="a markdown table (the book's estimate table)")
    pl.set_defaults(fn=cmd_plan, rate=None)
    ls = sub.add_parser("list", help="presets, profiles and finished results")
    ls.add_argument("preset", nargs="?")
    ls.add_argument("-v", "--verbose", action="store_true")
    ls.set_defaults(fn=cmd_list)
    v = sub.add_parser("verify", help="retrain levels of a committed result and compare every metric")
    v.add_argument("result", help="a results folder, e.g. lenet-19262789 or results/lenet-19262789")
    v.add_argument("--levels", default="0", help="a level, a range such as 0-1, or all (default 0)")
    v.add_argument("--device", default="cpu")
    v.set_defaults(fn=cmd_verify)
    from lthrepro.book import execute
    from lthrepro.scale import bench, campaign, gpuslice, ondemand  # subcommands live beside their code
    execute.add_parser(sub)
    ondemand.add_parser(sub)
    bench.add_parser(sub)
    campaign.add_parser(sub)
    gpuslice.add_parser(sub)
    from lthrepro.experiments import earlybird
    earlybird.add_parser(sub, cmd_earlybird)
    from lthrepro.book import landing
    landing.add_parser(sub)
    try:
        a = p.parse_args(argv)
    except SystemExit as e:  # a bad option (one line already written) or -h: the status, in-process too
        return e.code
    a.started = started
    from lthrepro.book.execute import NotebookError
    from lthrepro.core.data import DataError
    from lthrepro.experiments.lottery import NoTrainError
    from lthrepro.store.results import ResultsError
    try:
        portable.requested()  # a bad LTHREPRO_NUMERICS: one line, exit 2, before anything is written
        rc = a.fn(a)
        if a.cmd == "notebooks" and rc == 0:
            from lthrepro.book import landing
            landing.after_notebooks(a)
        return rc
    except (cfgmod.ConfigError, DataError, ResultsError, NoTrainError, NotebookError, portable.ModeError) as e:
        sys.stderr.write("lthrepro: error: " + " ".join(str(e).split()) + "\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("lthrepro: interrupted; finished levels are kept, run again to resume\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
