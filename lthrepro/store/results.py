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
import errno
import io
import json
import os
import platform
import secrets
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import torch

SUMMARY_FIELDS = ["kind", "seed", "rep", "level", "density", "early_stop_iter",
                  "early_stop_test_acc", "early_stop_val_acc", "final_test_acc",
                  "final_val_acc", "final_train_acc"]


class ResultsError(RuntimeError):
    """Results folder unusable (e.g. not writable): one line from the CLI, exit status 2."""


def results_root() -> Path:
    return Path(os.environ.get("LTHREPRO_RESULTS", Path(__file__).resolve().parents[2] / "results"))


# ------------------------------------------------------------------------------- writing
# Every file is written under a temporary name and renamed into place, so a killed run leaves
# no half-written file. Temporary names carry the writer's process id: a later run removes
# those of processes that are gone (``remove_stale_tmp``). Files and folders are created with
# mode 0o666 / 0o777 so that the user's umask decides, as for any other file they create.

def tmp_name(folder: Path) -> Path:
    return Path(folder) / f".tmp-{os.getpid()}-{secrets.token_hex(4)}"


def _write_error(path: Path, e: OSError) -> ResultsError:
    why = e.strerror or str(e)
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        fix = "free disk space (finished levels are kept) or choose another folder with --results DIR"
    elif e.errno in (errno.ENOTDIR, errno.EEXIST):
        fix = "a file stands where a folder is needed: move it away and run again"
    else:
        fix = "choose another folder with --results DIR"
    return ResultsError(f"cannot write {path} ({why}); {fix}")


def _mkdir(folder: Path) -> None:
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _write_error(Path(folder), e) from None


def write_text(path: Path, text: str) -> None:
    """Atomic text write (temp file + rename), verbatim (no newline translation), UTF-8."""
    write_bytes(path, text.encode())


def write_bytes(path: Path, blob: bytes) -> None:
    """Atomic write (temp file + rename)."""
    path = Path(path)
    _mkdir(path.parent)
    tmp = tmp_name(path.parent)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise _write_error(path, e) from None
        raise


def smoke_root() -> Path:
    """Where command-line smoke runs go unless asked otherwise: a scratch folder under the
    git-ignored ``_build/``, so a smoke run never lands in the committed ``results/``."""
    return Path(__file__).resolve().parents[2] / "_build" / "smoke-results"


def write_json(path: Path, obj: dict) -> None:
    """Atomic JSON write (temp file + rename)."""
    write_text(path, json.dumps(obj, indent=1, sort_keys=True))


# What to do about a damaged file, by name: results are small JSON files (committed) and
# tensors that only cache a run's weights for resuming (git-ignored, retrained when missing).
_FIX = {
    "metrics.json": "delete the folder {folder} and run again to retrain that run",
    "config.json": "delete it and run the same command again (it is rewritten from the config)",
    "provenance.json": "restore it (`git checkout -- {path}`) or delete it to start a new record",
    "untrained_supermask.json": "delete it and run `python -m lthrepro supermasks` again",
}


def _fix(path: Path) -> str:
    return _FIX.get(path.name, "restore it or delete it and run again").format(path=path, folder=path.parent)


def read_json(path: Path) -> dict:
    """A results JSON file; a missing, truncated or empty one is a one-line ResultsError naming
    the file and what to do."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultsError(f"missing {path}; {_fix(path)}") from None
    except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ResultsError(f"{path} is unreadable (truncated or empty? {type(e).__name__}); {_fix(path)}") from None
    if not isinstance(obj, dict):
        raise ResultsError(f"{path} does not hold a JSON object; {_fix(path)}")
    return obj


def member_dir(run_dir: Path, kind: str, seed: int, rep: int, level: int) -> Path:
    return Path(run_dir) / kind / f"s{seed}r{rep}" / f"level{level:02d}"


def _tensor_file_ok(path: Path) -> bool:
    """torch.save writes a zip archive whose directory is at the end: a truncated or empty file
    fails this cheap check (the full load happens when the tensors are used)."""
    return path.is_file() and zipfile.is_zipfile(path)


def is_done(d: Path, need_tensors: bool = False) -> bool:
    """A finished run has its metrics; with ``need_tensors`` its cached weights and mask too (an
    IMP level whose tensors are missing or truncated is retrained: they are only a cache)."""
    d = Path(d)
    return (d / "metrics.json").exists() and (not need_tensors or all(
        _tensor_file_ok(d / f) for f in ("final.pt", "mask.pt")))


def own(t: dict | None) -> dict:
    """Tensors with storage of their own: a member's results are views into the group's stacked
    tensors, and torch.save of a view writes the whole storage (the whole group)."""
    return {k: v.detach().to("cpu").clone(memory_format=torch.contiguous_format) for k, v in (t or {}).items()}


def save_tensors(path: Path, obj: dict) -> None:
    """torch.save through memory, then one ordinary write: a full disk raises OSError (torch's
    own file writer reports it as an opaque RuntimeError)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    with open(path, "wb") as f:
        f.write(buf.getbuffer())


def _atomic_dir(d: Path, fill) -> None:
    """Create folder ``d`` whole: ``fill(tmp)`` writes its files into a sibling temp folder,
    which is then renamed into place (replacing ``d``); on any failure nothing half-written stays."""
    d = Path(d)
    _mkdir(d.parent)
    tmp = tmp_name(d.parent)
    try:
        os.mkdir(tmp, 0o777)
        fill(tmp)
        if d.is_dir():
            shutil.rmtree(d)
        os.replace(tmp, d)
    except BaseException as e:  # disk full, Ctrl-C, ...: no half-written level stays behind
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            raise _write_error(d, e) from None
        raise


def save_member(d: Path, metrics: dict, mask: dict, final: dict | None, state: dict | None,
                extra: dict[str, dict] | None = None, files: dict[str, bytes] | None = None) -> None:
    """Write one finished run atomically: build it in a sibling temp folder, then rename.
    ``extra`` maps further tensor files (e.g. ``rewind``) to {"params": ..., "state": ...};
    ``files`` are committed files by name (a level's state, ``store/state.py``)."""
    def fill(tmp: Path) -> None:
        for name, blob in (files or {}).items():
            with open(tmp / name, "wb") as f:
                f.write(blob)
        save_tensors(tmp / "mask.pt", own(mask))
        if final is not None:
            save_tensors(tmp / "final.pt", {"params": own(final), "state": own(state)})
        for name, t in (extra or {}).items():
            save_tensors(tmp / f"{name}.pt", {"params": own(t.get("params")), "state": own(t.get("state"))})
        with open(tmp / "metrics.json", "w") as f:
            json.dump(metrics, f, indent=1, sort_keys=True)
    _atomic_dir(d, fill)


def install_member(d: Path, files: dict[str, bytes]) -> None:
    """Write one finished run from its files' bytes (trained elsewhere: ``executors``), as
    atomically as ``save_member``."""
    def fill(tmp: Path) -> None:
        for name, blob in files.items():
            with open(tmp / Path(name).name, "wb") as f:
                f.write(blob)
    _atomic_dir(d, fill)


def load_tensors(d: Path, name: str) -> dict:
    path = Path(d) / f"{name}.pt"
    try:
        return torch.load(path, weights_only=True)
    except Exception as e:  # noqa: BLE001 - missing, truncated or not a tensor file
        raise ResultsError(f"cannot read {path} ({type(e).__name__}); the tensors only cache that run: "
                           f"delete the folder {path.parent} and run again to retrain it") from None


_ROW_KEYS = ("kind", "seed", "rep", "level")


def collect(run_dir: Path) -> list[dict]:
    """Every finished member of a run, as summary rows (sorted)."""
    rows = []
    for mj in sorted(Path(run_dir).glob("*/s*r*/level*/metrics.json")):
        m = read_json(mj)
        if not all(isinstance(m.get(k), str if k == "kind" else int) for k in _ROW_KEYS):
            raise ResultsError(f"{mj} lacks its kind, seed, rep or level; {_fix(mj)}")
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


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process writes one run at a time: its leftovers are stale
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def remove_stale_tmp(run_dir: Path) -> int:
    """Delete the temporary files and folders that killed runs left behind (their process is
    gone); a live run's work in progress is left alone. Returns how many were removed."""
    n = 0
    d = Path(run_dir)
    if not d.is_dir():
        return 0
    for p in sorted(d.rglob(".tmp-*"), key=lambda p: -len(p.parts)):
        parts = p.name.split("-")
        pid = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else None
        if pid is not None and _alive(pid):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        n += 1
    return n


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


def check_writable(root: Path, option: str = "--results") -> None:
    """A folder we can write into (created if missing), else one line naming the option to change."""
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root):
            pass
    except OSError as e:
        raise ResultsError(f"folder {root} is not writable ({e.strerror}); "
                           f"choose another with {option} DIR") from None


# --------------------------------------------------------------------------------------------
# Reading results for the notebooks (the book's figures). Pure reads: storage knows nothing of
# training (``experiments.obtain`` trains what is missing).

def resolve_root(root: str | Path | None) -> Path:
    """A results root; relative paths are taken from the repository root, so a notebook gives
    the same answer whatever folder papermill, nbval or jupyter-book run it in."""
    if root is None:
        return results_root()
    p = Path(root)
    return p if p.is_absolute() else Path(__file__).resolve().parents[2] / p


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
    from lthrepro.core.config import run_name
    d = resolve_root(root) / run_name(cfg)
    return [m for m in expected_members(cfg) if not is_done(member_dir(d, *m))]


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
    # schedule, not the network, bounds them (paper.LATE_STOP).
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
            "n_test": c["data"]["n_test"], "config": c["config"], "coverage": coverage(run_dir, c["config"])}


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
    seeds = sorted({int(p.name[1:].split("r")[0]) for p in run_dir.glob("imp/s*r*")})
    parts = [sched, f"{len(seeds)} of {len(paper.seeds)} trials"]
    for kind, want, label in (("reinit", paper.reinits, "reinits"), ("random", PAPER_RANDOM_PER_TRIAL,
                                                                      "random-sparse controls")):
        per = [len(list(run_dir.glob(f"{kind}/s{s}r*"))) for s in seeds]
        if any(per):
            parts.append(f"{min(per)} of {want} {label} per trial")
    return ", ".join(parts)
