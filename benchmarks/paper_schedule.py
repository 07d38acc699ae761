"""Issue 20's target, measured: 2 LeNet trials x (IMP + 1 random reinit + one-shot) x 16 levels
(0-15) at the paper schedule (50,000 iterations per level), wall time on this machine's cores.

Pass/fail rule, written before the run: the target is met when both trials have finished levels
0-15 within 7,200 s (2 h) of wall time from launch; the runs get ``--deadline`` so that a miss
ends the benchmark at 2 h with the levels reached (exit 75 from a run), not later.

One ``python -m lthrepro run lenet --profile paper`` per trial, side by side (one torch thread
each: one per core of the 2-core machine), each into its own scratch results root so that the two
never write the same files. The members of a level (IMP, reinit, one-shot) train as one group
(``--group 3``); only IMP and reinit at Fig. 3's densities evaluate the test split at every
evaluation (``test_curves=fig3``, the campaign's setting), which leaves every reported number the
same. Every 20 s the script records the load average and the metrics files that have appeared
(so each level's finish time). Writes ``benchmarks/results/paper-schedule-<date>.json`` with the
commit, whether the tree was clean, the CPU kind, the numerics fingerprint the runs recorded,
the per-level times and the load. Run: ``python benchmarks/paper_schedule.py`` (needs
``LTHREPRO_DATA``; ``--levels 1`` for a short check).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results"
KINDS = ("imp", "reinit", "oneshot")


def finished(root: Path) -> dict[str, float]:
    """``kind/sXrY/levelNN`` -> modification time of its metrics.json, for a scratch root."""
    return {str(p.parent.relative_to(p.parents[3])): p.stat().st_mtime
            for p in root.glob("lenet-*/*/s*r*/level*/metrics.json")}


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", type=int, default=15, help="last level (16 levels: 0-15)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--group", type=int, default=3)
    ap.add_argument("--limit", type=float, default=7200.0, help="the target, seconds (passed as --deadline)")
    ap.add_argument("--poll", type=float, default=20.0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra config override for a short check (e.g. iterations=200); recorded")
    a = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="paper-schedule-"))
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    sets = ["--set", "reinits=1", "--set", "oneshot=True", "--set", "random_prune=0", "--set", "test_curves=fig3"]
    sets += [x for kv in a.set for x in ("--set", kv)]
    t0, started = time.time(), dt.datetime.now(dt.UTC)
    procs, logs = {}, [open(scratch / f"s{s}.log", "w") for s in a.seeds]
    for s, log in zip(a.seeds, logs):
        procs[s] = subprocess.Popen([sys.executable, "-m", "lthrepro", "run", "lenet", "--profile", "paper",
                                     "--seeds", str(s), "--levels", str(a.levels), "--group", str(a.group),
                                     "--results", str(scratch / f"s{s}"), "--deadline", str(int(a.limit)),
                                     *sets], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    load = []
    while any(p.poll() is None for p in procs.values()):
        time.sleep(a.poll)
        load.append(round(os.getloadavg()[0], 2))
    wall = time.time() - t0
    for log in logs:
        log.close()
    levels = {}
    for s in a.seeds:
        for key, mtime in sorted(finished(scratch / f"s{s}").items()):
            levels[f"s{s}:{key}"] = round(mtime - t0, 1)
    done = {s: max((int(k.split("level")[1]) for k in levels if k.startswith(f"s{s}:imp/")), default=-1)
            for s in a.seeds}
    expected = len(a.seeds) * (1 + (a.levels) * len(KINDS))  # level 0 trains IMP only
    met = all(p.returncode == 0 for p in procs.values()) and len(levels) == expected and wall <= a.limit
    prov = next((scratch / f"s{a.seeds[0]}").glob("lenet-*/provenance.json"), None)
    numerics = json.loads(prov.read_text())["sessions"][-1].get("numerics") if prov else None
    per_level = {}
    for lv in range(a.levels + 1):
        ends = [v for k, v in levels.items() if k.endswith(f"level{lv:02d}")]
        if ends:
            per_level[lv] = round(max(ends), 1)
    result = {
        "what": f"LeNet paper schedule: {len(a.seeds)} trials x (IMP + 1 reinit + one-shot), "
                f"levels 0-{a.levels}, side by side",
        "rule": f"met when every run of levels 0-{a.levels} finished within {a.limit:.0f} s of wall time",
        "met": met, "wall_s": round(wall, 1), "runs_finished": len(levels), "runs_expected": expected,
        "last_imp_level": done, "exit_status": {s: p.returncode for s, p in procs.items()},
        "level_end_s": per_level, "run_end_s": levels,
        "load_1min": {"mean": round(sum(load) / max(len(load), 1), 2), "max": max(load, default=None),
                      "samples": len(load), "every_s": a.poll},
        "group": a.group, "seeds": a.seeds, "overrides": a.set, "numerics": numerics,
        "started": started.isoformat(timespec="seconds"), "commit": git("rev-parse", "--short", "HEAD"),
        "tree_clean": git("status", "--porcelain", "--untracked-files=no") == "",
        "cores": os.cpu_count(), "python": sys.version.split()[0],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"paper-schedule-{started:%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wall {wall:.0f} s for {len(levels)}/{expected} runs (levels 0-{a.levels}, {len(a.seeds)} trials); "
          f"target {a.limit:.0f} s: {'met' if met else 'NOT met'}; load mean {result['load_1min']['mean']} "
          f"max {result['load_1min']['max']}; scratch {scratch}; -> {path}")


if __name__ == "__main__":
    main()
