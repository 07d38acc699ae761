"""Results on disk: the artifact the notebooks read.

Layout (one folder per config, keyed by preset + config hash)::

    results/<preset>-<hash>/
        config.json       the full config, its hash, the data set's split sizes and sha256
        provenance.json   device, torch version, git commit, dates and wall time of each session
        summary.csv       one row per (kind, seed, rep, level): densities, early stop, accuracies
        <kind>/s<seed>r<rep>/level<NN>/metrics.json   summary + full curves + layer densities
        <kind>/s<seed>r<rep>/level<NN>/{mask,final}.pt  tensors for resuming (git-ignored)

``kind`` is ``imp`` (the trial), ``reinit``, ``random`` or ``oneshot``. Every level folder is
written to a temporary name and renamed into place, so a killed run leaves no partial level.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

SUMMARY_FIELDS = ["kind", "seed", "rep", "level", "density", "early_stop_iter",
                  "early_stop_test_acc", "early_stop_val_acc", "final_test_acc",
                  "final_val_acc", "final_train_acc"]


class ResultsError(RuntimeError):
    """Results folder unusable (e.g. not writable): one line from the CLI, exit status 2."""


def results_root() -> Path:
    return Path(os.environ.get("LTHREPRO_RESULTS", Path(__file__).resolve().parent.parent / "results"))


def write_json(path: Path, obj: dict) -> None:
    """Atomic JSON write (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def member_dir(run_dir: Path, kind: str, seed: int, rep: int, level: int) -> Path:
    return Path(run_dir) / kind / f"s{seed}r{rep}" / f"level{level:02d}"


def is_done(d: Path, need_tensors: bool = False) -> bool:
    return (d / "metrics.json").exists() and (not need_tensors or (d / "final.pt").exists())


def save_member(d: Path, metrics: dict, mask: dict, final: dict | None, state: dict | None) -> None:
    """Write one finished run atomically: build it in a sibling temp folder, then rename."""
    d.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=d.parent, prefix=".tmp-"))
    torch.save({k: v.cpu() for k, v in mask.items()}, tmp / "mask.pt")
    if final is not None:
        torch.save({"params": final, "state": state or {}}, tmp / "final.pt")
    with open(tmp / "metrics.json", "w") as f:
        json.dump(metrics, f, indent=1, sort_keys=True)
    if d.exists():
        shutil.rmtree(d)
    os.replace(tmp, d)


def install_member(d: Path, files: dict[str, bytes]) -> None:
    """Write one finished run from its files' bytes (trained elsewhere: ``executors``), as
    atomically as ``save_member``: a sibling temp folder renamed into place."""
    d.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=d.parent, prefix=".tmp-"))
    for name, blob in files.items():
        (tmp / Path(name).name).write_bytes(blob)
    if d.exists():
        shutil.rmtree(d)
    os.replace(tmp, d)


def load_tensors(d: Path, name: str) -> dict:
    return torch.load(Path(d) / f"{name}.pt", weights_only=True)


def collect(run_dir: Path) -> list[dict]:
    """Every finished member of a run, as summary rows (sorted)."""
    rows = []
    for mj in sorted(Path(run_dir).glob("*/s*r*/level*/metrics.json")):
        m = json.loads(mj.read_text())
        rows.append({k: m.get(k) for k in SUMMARY_FIELDS})
    rows.sort(key=lambda r: (r["kind"], r["seed"], r["rep"], r["level"]))
    return rows


def write_summary(run_dir: Path) -> Path:
    path = Path(run_dir) / "summary.csv"
    rows = collect(run_dir)
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=".tmp-")
    with os.fdopen(fd, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=SUMMARY_FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    os.replace(tmp, path)
    return path


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=Path(__file__).parent, timeout=5).stdout.strip() or "unknown"
    except Exception:  # noqa: BLE001
        return "unknown"


def device_name(device: str | torch.device) -> str:
    d = torch.device(device)
    if d.type == "cuda":
        return torch.cuda.get_device_name(d)
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def add_provenance(run_dir: Path, device: str, seconds: float, trained: int, cfg: dict,
                   started: str | None = None, commit: str | None = None, complete: bool = True,
                   device_label: str | None = None, extra: dict | None = None) -> None:
    """Record one session (who ran what, where, when, how long) in provenance.json. A session
    identified by ``started`` is updated in place, so a runner can record after every level and
    a killed run still leaves its provenance. ``device_label`` names the devices of a session
    whose runs trained elsewhere (Ray workers); ``extra`` adds fields (the executor)."""
    path = Path(run_dir) / "provenance.json"
    prov = read_json(path) if path.exists() else {"sessions": []}
    entry = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "device": device_label or device_name(device), "torch": torch.__version__,
        "git_commit": commit or git_commit(),
        "wall_seconds": round(seconds, 1), "members_trained": trained,
        "profile": cfg["profile"], "seeds": list(cfg["seeds"]), "levels": cfg["levels"], **(extra or {})}
    if started:
        entry.update(started=started, complete=complete)
    prov["sessions"] = [s for s in prov["sessions"] if not started or s.get("started") != started]
    prov["sessions"].append(entry)
    write_json(path, prov)


def check_writable(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root):
            pass
    except OSError as e:
        raise ResultsError(f"results folder {root} is not writable ({e.strerror}); "
                           "choose another with --results DIR") from None


# --------------------------------------------------------------------------------------------
# Reading results for the notebooks (the book's figures). Pure reads, no training here except
# through ``obtain``, which hands missing work to ``lottery.run``.

def resolve_root(root: str | Path | None) -> Path:
    """A results root; relative paths are taken from the repository root, so a notebook gives
    the same answer whatever folder papermill, nbval or jupyter-book run it in."""
    if root is None:
        return results_root()
    p = Path(root)
    return p if p.is_absolute() else Path(__file__).resolve().parent.parent / p


def expected_members(cfg) -> list[tuple[str, int, int, int]]:
    """(kind, seed, rep, level) of every run a config asks for (LTH §2 controls at ℓ ≥ 1)."""
    out = []
    for s in cfg.seeds:
        for level in range(cfg.levels + 1):
            out.append(("imp", s, 0, level))
            if level:
                for kind, n in (("reinit", cfg.reinits), ("random", cfg.random_prune),
                                ("oneshot", int(cfg.oneshot))):
                    out += [(kind, s, r, level) for r in range(n)]
    return out


def missing(cfg, root: str | Path | None = None) -> list[tuple[str, int, int, int]]:
    from .config import run_name
    d = resolve_root(root) / run_name(cfg)
    return [m for m in expected_members(cfg) if not is_done(member_dir(d, *m))]


def obtain(cfg, device: str = "cpu", root: str | Path | None = None, executor: str = "local") -> Path:
    """The results folder of ``cfg``: read as is when every requested run has its metrics
    (tensors are git-ignored, so a fresh clone can render but not extend), otherwise trained by
    ``lottery.run`` (which raises ``NoTrainError`` under LTHREPRO_NO_TRAIN=1), or by the Ray
    executor when ``executor`` is ``ray`` or ``ray:ADDRESS``."""
    from .config import parse_executor, run_name
    name, address = parse_executor(executor)
    d = resolve_root(root) / run_name(cfg)
    if not missing(cfg, root):
        return d
    if name == "local":
        from . import lottery  # late import: lottery imports this module
        return lottery.run(cfg, device=device, root=resolve_root(root))
    from . import executors
    return executors.execute([cfg], device, resolve_root(root), name, address)[0][0]


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


def run_info(run_dir: Path) -> dict:
    """What produced a results folder, for captions and the status page: profile, seeds,
    levels, device, date, git commit, wall time (from config.json and provenance.json)."""
    run_dir = Path(run_dir)
    c = read_json(run_dir / "config.json")
    prov_path = run_dir / "provenance.json"
    sessions = read_json(prov_path)["sessions"] if prov_path.exists() else []
    # provenance.json is written when a run finishes: a run still in progress has none yet.
    devices = sorted({s["device"] for s in sessions}) or ["device not recorded yet (run in progress)"]
    dates = [s["date"] for s in sessions]
    return {"name": run_dir.name, "profile": c["config"]["profile"],
            "seeds": sorted({int(p.name[1:].split("r")[0]) for p in run_dir.glob("imp/s*r*")}),
            "levels": max((int(p.name[5:]) for p in run_dir.glob("imp/s*r*/level*")), default=-1),
            "device": "; ".join(devices), "torch": "; ".join(sorted({s["torch"] for s in sessions})),
            "date": dates[-1] if dates else "no provenance.json yet",
            "commit": "; ".join(sorted({s["git_commit"] for s in sessions})) or "unknown",
            "wall": f"{sum(s['wall_seconds'] for s in sessions) / 60:.1f} min" if sessions else "unknown",
            "iterations": c["config"]["iterations"], "test_note": c["data"]["test_note"],
            "n_test": c["data"]["n_test"], "config": c["config"]}
