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


def add_provenance(run_dir: Path, device: str, seconds: float, trained: int, cfg: dict) -> None:
    """Append one session (who ran what, where, when, how long) to provenance.json."""
    path = Path(run_dir) / "provenance.json"
    prov = read_json(path) if path.exists() else {"sessions": []}
    prov["sessions"].append({
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "device": device_name(device), "torch": torch.__version__, "git_commit": git_commit(),
        "wall_seconds": round(seconds, 1), "members_trained": trained,
        "profile": cfg["profile"], "seeds": list(cfg["seeds"]), "levels": cfg["levels"]})
    write_json(path, prov)


def check_writable(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root):
            pass
    except OSError as e:
        raise ResultsError(f"results folder {root} is not writable ({e.strerror}); "
                           "choose another with --results DIR") from None
