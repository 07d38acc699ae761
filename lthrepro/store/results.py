"""Results on disk: the artifact the notebooks read. This module owns the folders and the files
in them (where a results root is, how a file is written and read back, one folder per trained
run); ``provenance`` records the sessions that trained into a folder and ``summaries`` reads a
folder back as tables.

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

import contextlib
import errno
import io
import json
import os
import secrets
import shutil
import tempfile
import zipfile
from pathlib import Path

import torch


class ResultsError(RuntimeError):
    """Results folder unusable (e.g. not writable): one line from the CLI, exit status 2."""


def results_root() -> Path:
    return Path(os.environ.get("LTHREPRO_RESULTS", Path(__file__).resolve().parents[2] / "results"))


def smoke_root() -> Path:
    """Where command-line smoke runs go unless asked otherwise: a scratch folder under the
    git-ignored ``_build/``, so a smoke run never lands in the committed ``results/``."""
    return Path(__file__).resolve().parents[2] / "_build" / "smoke-results"


def resolve_root(root: str | Path | None) -> Path:
    """A results root; relative paths are taken from the repository root, so a notebook gives
    the same answer whatever folder papermill, nbval or jupyter-book run it in."""
    if root is None:
        return results_root()
    p = Path(root)
    return p if p.is_absolute() else Path(__file__).resolve().parents[2] / p


def check_writable(root: Path, option: str = "--results") -> None:
    """A folder we can write into, else one line naming the option to change. Nothing is created
    (issue 23: no empty folder stays behind when a later check fails): a missing folder is checked
    through its nearest existing parent, and made by the first write."""
    root = Path(root)
    if not str(root).strip():
        raise ResultsError(f"{option} is empty; name a folder, e.g. {option} results")
    top = root
    while not top.exists() and top.parent != top:
        top = top.parent
    try:
        if not top.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"{top} is a file")
        with tempfile.NamedTemporaryFile(dir=top, prefix=".tmp-"):
            pass
    except OSError as e:
        raise ResultsError(f"folder {root} is not writable ({e.strerror}); "
                           f"choose another with {option} DIR") from None


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


@contextlib.contextmanager
def undo_if_new(d: Path):
    """A folder that this call creates is removed again when writing into it fails (a full disk)
    before any run finished in it, so a first session that fails leaves no config.json or empty
    folder behind (finished runs are kept, as the error message promises)."""
    top = new_top(d)
    try:
        yield
    except Exception:
        remove_unfinished(top)
        raise


def new_top(d: Path) -> Path | None:
    """The outermost folder of ``d``'s path that does not exist yet (None: ``d`` exists)."""
    made = [p for p in (Path(d), *Path(d).parents) if not p.exists()]
    return made[-1] if made else None


def remove_unfinished(top: Path | None) -> None:
    """Remove a folder this call made, unless a run finished in it (``undo_if_new``)."""
    if top is not None and top.is_dir() and not any(top.rglob("metrics.json")):
        shutil.rmtree(top, ignore_errors=True)


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


def write_json(path: Path, obj: dict) -> None:
    """Atomic JSON write (temp file + rename)."""
    write_text(path, json.dumps(obj, indent=1, sort_keys=True))


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


# ------------------------------------------------------------------------------- reading
# What to do about a damaged file, by name: results are small JSON files (committed) and
# tensors that only cache a run's weights for resuming (git-ignored, retrained when missing).
_FIX = {
    "metrics.json": "delete the folder {folder} and run again to retrain that run",
    "config.json": "delete it and run the same command again (it is rewritten from the config)",
    "provenance.json": "restore it (`git checkout -- {path}`) or delete it to start a new record",
    "untrained_supermask.json": "delete it and run `python -m lthrepro supermasks` again",
    "numerics.json": "restore it with `git checkout -- {path}`",
}


def fix_hint(path: Path) -> str:
    return _FIX.get(path.name, "restore it or delete it and run again").format(path=path, folder=path.parent)


def read_json(path: Path) -> dict:
    """A results JSON file; a missing, truncated or empty one is a one-line ResultsError naming
    the file and what to do."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultsError(f"missing {path}; {fix_hint(path)}") from None
    except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ResultsError(f"{path} is unreadable (truncated or empty? {type(e).__name__}); {fix_hint(path)}") from None
    from lthrepro.store import schema
    bad = schema.problem(path, obj)  # types, NaN, a config of another folder: refused here
    if bad:
        raise ResultsError(f"{path} {bad}; {fix_hint(path)}")
    return obj


# ------------------------------------------------------------------------------- members
# One folder per trained run (member), written whole or not at all.

def member_dir(run_dir: Path, kind: str, seed: int, rep: int, level: int) -> Path:
    return Path(run_dir) / kind / f"s{seed}r{rep}" / f"level{level:02d}"


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


def write_tensors(path: Path, obj: dict) -> None:
    """torch.save, atomically (temp file + rename): a full disk leaves no partial tensor file
    and is one line naming the file."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes(path, buf.getvalue())


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
