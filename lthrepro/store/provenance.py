"""Provenance: who trained what, where, when and from which code, one session per invocation
(``provenance.json`` in a results folder). A runner records its session when it starts and after
every level, so a killed run still leaves its record; a later run that finds nothing left to
train closes it. ``summaries.run_info`` reads these records back for the book's captions.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from pathlib import Path

import torch

from lthrepro.store.results import read_json, write_json


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=Path(__file__).resolve().parent, timeout=5).stdout.strip() or "unknown"
    except Exception:  # noqa: BLE001
        return "unknown"


def tree_clean() -> bool | None:
    """Is the code that runs committed? No uncommitted change (tracked or new) under lthrepro/
    or in the install files; results/ and book/ are outputs and do not count. None: no git."""
    try:
        r = subprocess.run(["git", "status", "--porcelain", "--", "lthrepro", "pyproject.toml",
                            "requirements.txt"], capture_output=True, text=True,
                           cwd=Path(__file__).resolve().parents[2], timeout=10)
    except Exception:  # noqa: BLE001
        return None
    return None if r.returncode else not r.stdout.strip()


def device_name(device: str | torch.device) -> str:
    d = torch.device(device)
    if d.type == "cuda":
        return torch.cuda.get_device_name(d)
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def add_provenance(run_dir: Path, device: str, seconds: float, trained: int, cfg: dict,
                   started: str | None = None, commit: str | None = None, complete: bool = True,
                   numerics: dict | None = None, clean: bool | None = None,
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
    if numerics:  # issue 11: the numerics fingerprint and platform the session trained under
        entry.update(numerics=numerics, platform=numerics.get("platform"))
    if clean is not None:
        entry["tree_clean"] = clean
    prov["sessions"] = [s for s in prov["sessions"] if not started or s.get("started") != started]
    prov["sessions"].append(entry)
    write_json(path, prov)


def close_unfinished(run_dir: Path, note: str = "a later invocation found nothing left to train") -> int:
    """Mark the sessions of killed runs as closed once a later invocation finds every run of the
    config finished (their work is on disk). Returns how many were closed."""
    path = Path(run_dir) / "provenance.json"
    if not path.exists():
        return 0
    prov = read_json(path)
    open_ = [s for s in prov.get("sessions", []) if s.get("complete") is False]
    for s in open_:
        s.update(complete=True, closed=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") + f": {note}")
    if open_:
        write_json(path, prov)
    return len(open_)
