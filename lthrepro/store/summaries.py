"""A results folder read back: the summary rows of its finished runs (``summary.csv``), the
DataFrames and curves the book's figures plot, and the facts its captions give (what produced
the folder, how much of the paper's protocol it covers). Pure reads, apart from ``summary.csv``:
storage knows nothing of training (``scale.ondemand`` trains what is missing).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from lthrepro.store.results import ResultsError, expected_members, fix_hint, read_json, write_text

SUMMARY_FIELDS = ["kind", "seed", "rep", "level", "density", "early_stop_iter",
                  "early_stop_test_acc", "early_stop_val_acc", "final_test_acc",
                  "final_val_acc", "final_train_acc"]

_ROW_KEYS = ("kind", "seed", "rep", "level")


def collect(run_dir: Path) -> list[dict]:
    """Every finished member of a run, as summary rows (sorted)."""
    rows = []
    for mj in sorted(Path(run_dir).glob("*/s*r*/level*/metrics.json")):
        m = read_json(mj)
        if not all(isinstance(m.get(k), str if k == "kind" else int) for k in _ROW_KEYS):
            raise ResultsError(f"{mj} lacks its kind, seed, rep or level; {fix_hint(mj)}")
        rows.append({k: m.get(k) for k in SUMMARY_FIELDS})
    rows.sort(key=lambda r: (r["kind"], r["seed"], r["rep"], r["level"]))
    return rows


def write_summary(run_dir: Path) -> Path:
    path = Path(run_dir) / "summary.csv"
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=SUMMARY_FIELDS)
    w.writeheader()
    for r in collect(run_dir):
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    text = buf.getvalue()
    if not (path.is_file() and path.read_bytes() == text.encode()):  # unchanged: leave it alone
        write_text(path, text)
    return path


def check_run_dir(run_dir: Path) -> None:
    """Before a run writes anything: its folder is a folder, and every results file in it can be
    read (a damaged one is named, with the fix, instead of failing half-way through)."""
    d = Path(run_dir)
    if d.exists() and not d.is_dir():
        raise ResultsError(f"{d} is a file, not a results folder; move it away and run again")
    if not d.is_dir():
        return
    for name in ("config.json", "provenance.json"):
        if (d / name).exists():
            read_json(d / name)
    collect(d)


# ------------------------------------------------------------------- what the book reads
def load_summary(run_dir: Path, cfg=None):
    """Summary rows as a DataFrame (density in percent remaining), restricted to the seeds,
    levels and controls ``cfg`` asks for when given (a notebook may ask for a subset)."""
    import pandas as pd
    df = pd.DataFrame(collect(run_dir), columns=SUMMARY_FIELDS)
    if cfg is not None:
        want = set(expected_members(cfg))
        keep = [(k, s, r, lv) in want for k, s, r, lv in zip(df.kind, df.seed, df.rep, df.level)]
        df = df[keep].reset_index(drop=True)
    df["pm"] = 100.0 * df["density"]
    # The schedule each run was cut at, so claims about early stopping can tell when the
    # schedule, not the network, bounds them (book/measures.py, LATE_STOP).
    cfile = Path(run_dir) / "config.json"
    df["iterations"] = cfg.iterations if cfg is not None else \
        (read_json(cfile)["config"]["iterations"] if cfile.exists() else float("nan"))
    return df


def aggregate(df, value: str):
    """Mean, min and max of ``value`` over trials per (kind, level): the paper's error bars
    (LTH §1: "error bars are the minimum and maximum of any trial")."""
    g = df.groupby(["kind", "level"])
    out = g.agg(pm=("pm", "mean"), mean=(value, "mean"), min=(value, "min"), max=(value, "max"),
                n=(value, "size")).reset_index()
    return out.sort_values(["kind", "level"]).reset_index(drop=True)


def load_curves(run_dir: Path, kind: str, levels, seeds) -> object:
    """Long DataFrame of the evaluation curves: kind, seed, rep, level, pm, iteration, test_acc,
    val_acc, val_loss (every ``eval_every`` iterations, LTH §1 fn. 2)."""
    import pandas as pd
    rows = []
    for lv in levels:
        for s in seeds:
            for d in sorted((Path(run_dir) / kind / "").glob(f"s{s}r*/level{lv:02d}")):
                if not (d / "metrics.json").exists():
                    continue
                m = read_json(d / "metrics.json")
                for i, it in enumerate(m["iterations"]):
                    rows.append({"kind": kind, "seed": s, "rep": m["rep"], "level": lv,
                                 "pm": 100.0 * m["density"], "iteration": it,
                                 "test_acc": m["test_acc"][i], "val_acc": m["val_acc"][i],
                                 "val_loss": m["val_loss"][i]})
    return pd.DataFrame(rows)


def present_seeds(run_dir: Path, seeds=None) -> list[int]:
    """The trials a folder holds (an IMP chain started), among ``seeds`` when given: a folder
    shared by trials trained at different times (a campaign adding trials 2-4, issue 20) is read
    for the trials a page asks for."""
    have = {int(p.name[1:].split("r")[0]) for p in Path(run_dir).glob("imp/s*r*")}
    return sorted(have if seeds is None else have & {int(x) for x in seeds})


def run_info(run_dir: Path, seeds=None) -> dict:
    """What produced a results folder, for captions and the status page: profile, seeds,
    levels, device, date, git commit, wall time (from config.json and provenance.json);
    ``seeds``: only those trials (a page's SEEDS)."""
    run_dir = Path(run_dir)
    trials = present_seeds(run_dir, seeds)
    c = read_json(run_dir / "config.json")
    prov_path = run_dir / "provenance.json"
    sessions = read_json(prov_path)["sessions"] if prov_path.exists() else []
    # provenance.json is written when a run finishes: a run still in progress has none yet.
    devices = sorted({s["device"] for s in sessions}) or ["device not recorded yet (run in progress)"]
    dates = [s["date"] for s in sessions]
    return {"name": run_dir.name, "profile": c["config"]["profile"],
            "seeds": trials,
            "levels": max((int(p.name[5:]) for s in trials for p in run_dir.glob(f"imp/s{s}r*/level*")), default=-1),
            "device": "; ".join(devices), "torch": "; ".join(sorted({s["torch"] for s in sessions})),
            "date": dates[-1] if dates else "no provenance.json yet",
            "commit": "; ".join(sorted({s["git_commit"] for s in sessions})) or "unknown",
            "wall": f"{sum(s['wall_seconds'] for s in sessions) / 60:.1f} min" if sessions else "unknown",
            "iterations": c["config"]["iterations"], "test_note": c["data"]["test_note"],
            "n_test": c["data"]["n_test"], "config": c["config"],
            "coverage": coverage(run_dir, {**c["config"], "seeds": trials})}


# The paper's trials and controls per figure family (LTH §2, App. E): 5 trials; 3 random
# reinits per trial for LeNet/Conv (1 reported for VGG/ResNet, Figs. 7-8); Fig. 1's 10 random
# sparse networks per density = 2 per trial.
PAPER_RANDOM_PER_TRIAL = 2


def coverage(run_dir: Path, cfg: dict) -> str:
    """How much of the paper's protocol a result rests on, counted from the runs on disk:
    e.g. "paper schedule, 2 of 5 trials, 1 of 3 reinits per trial" (issue 15)."""
    from lthrepro.core.presets import PRESETS, make_config
    base = cfg["preset"].split("-")[0]
    if base not in PRESETS:
        return ""
    paper = make_config(base, "paper")
    full = paper.iterations * (3 if cfg.get("dropout") else 1)
    it = cfg["iterations"]
    sched = "paper schedule" if it >= full else f"{it:,} of the paper's {full:,} iterations per level"
    run_dir = Path(run_dir)
    seeds = present_seeds(run_dir, cfg.get("seeds"))
    parts = [sched, f"{len(seeds)} of {len(paper.seeds)} trials"]
    for kind, want, label in (("reinit", paper.reinits, "reinits"), ("random", PAPER_RANDOM_PER_TRIAL,
                                                                      "random-sparse controls")):
        per = [len(list(run_dir.glob(f"{kind}/s{s}r*"))) for s in seeds]
        if any(per):
            parts.append(f"{min(per)} of {want} {label} per trial")
    return ", ".join(parts)
