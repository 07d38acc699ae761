"""What every JSON file read from disk must hold (issue 23): one check per file name, applied by
``results.read_json`` to every config.json, provenance.json and metrics.json, and to the golden
file, so a damaged or hand-edited file is refused where it is read (one line naming the file and
the repair) instead of being extended, summarised or plotted.

``problem(path, obj)`` returns what is wrong (a phrase), or None. NaN and infinities are refused
everywhere except ``final_train_acc``, whose NaN means "not measured" (runs that skip the
training-set pass record it so).
"""

from __future__ import annotations

import math
import re
from pathlib import Path


def _num(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _nonfinite(obj, where: str = "") -> str | None:
    """The first NaN or infinity in ``obj`` (a JSON value), named by its key path."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return where or "a value"
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "final_train_acc" and isinstance(v, float) and math.isnan(v):
                continue  # NaN: not measured
            bad = _nonfinite(v, f"{where}.{k}" if where else str(k))
            if bad:
                return bad
    if isinstance(obj, list):
        for i, v in enumerate(obj):
            bad = _nonfinite(v, f"{where}[{i}]")
            if bad:
                return bad
    return None


def _typed(obj: dict, rules: dict) -> str | None:
    """The first key of ``obj`` whose value breaks its rule: key -> (test, what it must be)."""
    for k, (ok, what) in rules.items():
        if k in obj and not ok(obj[k]):
            return f"has {k} = {_short(obj[k])}, which must be {what}"
    return None


def _short(v) -> str:
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


_NUMS = (lambda v: _num(v), "a number")
_INTS = (lambda v: _int(v), "an integer")
_STR = (lambda v: isinstance(v, str), "a string")
_CURVE = (lambda v: isinstance(v, list) and all(_num(x) or x is None for x in v), "a list of numbers")

METRICS = {**{k: _INTS for k in ("level", "seed", "rep", "early_stop_iter")},
           **{k: _NUMS for k in ("density", "early_stop_test_acc", "early_stop_val_acc", "final_test_acc",
                                 "final_val_acc", "final_train_acc", "test_instability", "train_instability",
                                 "l2_weights")},
           **{k: _CURVE for k in ("iterations", "test_acc", "test_loss", "train_loss", "val_acc", "val_loss",
                                  "test_err", "train_err")},
           "kind": _STR,
           "layer_density": (lambda v: isinstance(v, dict) and all(_num(x) for x in v.values()),
                             "a mapping of layers to numbers")}

SESSION = {"wall_seconds": (lambda v: _num(v) and v >= 0, "a number of seconds"),
           "members_trained": (lambda v: _int(v) and v >= 0, "a count"),
           "levels": _INTS, "seeds": (lambda v: isinstance(v, list) and all(_int(s) for s in v), "a list of seeds"),
           "complete": (lambda v: isinstance(v, bool), "true or false"),
           "tree_clean": (lambda v: v is None or isinstance(v, bool), "true, false or null"),
           "numerics": (lambda v: isinstance(v, dict) and all(isinstance(v.get(k), str) for k in
                                                                ("fingerprint", "platform")),
                        "a mapping with a fingerprint and a platform"),
           "platform": (lambda v: v is None or isinstance(v, str), "a string"),
           "threads": _INTS,
           **{k: _STR for k in ("date", "device", "torch", "git_commit", "profile", "started", "closed", "note")}}

GOLDEN = {"platform": _STR, "fingerprint": _STR, "cpu": (lambda v: v is None or isinstance(v, str), "a string"),
          "metrics": (lambda v: isinstance(v, dict), "a mapping")}


def _config(path: Path, obj: dict) -> str | None:
    from lthrepro.core.config import ConfigError, config_from_dict, run_name
    if not isinstance(obj.get("config"), dict):
        return "holds no config mapping"
    try:
        cfg = config_from_dict(obj["config"])
    except ConfigError as e:
        return f"holds a config that is not valid ({e})"
    folder = path.parent.name
    # a lottery folder is named by its config's hash; stability-/earlybird- folders hash more
    # (their spec), and their runners compare the whole file with the config they run
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+]*(?:-[A-Za-z0-9._+]+)*-[0-9a-f]{8}", folder) and \
            not folder.startswith(("stability-", "earlybird-")) and folder != run_name(cfg):
        return f"holds the config of {run_name(cfg)}, not of the folder {folder} (copied from another folder?)"
    return None


def _provenance(obj: dict) -> str | None:
    s = obj.get("sessions")
    if not isinstance(s, list) or not all(isinstance(x, dict) for x in s):
        return "holds no list of sessions"
    for x in s:
        bad = _typed(x, SESSION)
        if bad:
            return f"has a session that {bad}"
    return None


def _golden(obj: dict) -> str | None:
    entries = obj.get("goldens", [obj] if "metrics" in obj else None)
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        return "holds no list of golden entries"
    for e in entries:
        missing = [k for k in ("platform", "fingerprint", "metrics") if k not in e]
        bad = f"lacks {missing[0]}" if missing else _typed(e, GOLDEN)
        if bad:
            return f"has an entry that {bad}"
    return None


_DTYPES = {"float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"}


def _shape(v) -> bool:
    return isinstance(v, list) and all(_int(x) and 0 <= x <= 2 ** 31 for x in v)


def state_header(h: dict) -> str | None:
    """What is wrong with the JSON header of a level-state file (``state.py``), or None."""
    if not isinstance(h, dict):
        return "has no header object"
    for k in ("masks", "bits"):
        if k in h and not (_int(h[k]) and h[k] >= 0):
            return f"has {k} = {_short(h[k])}, which must be a count"
    if "layers" in h and not (isinstance(h["layers"], list) and all(
            isinstance(x, list) and len(x) == 2 and isinstance(x[0], str) and _shape(x[1]) for x in h["layers"])):
        return "has layers that are not (name, shape) pairs"
    if "tensors" in h and not (isinstance(h["tensors"], list) and all(
            isinstance(x, list) and len(x) == 4 and x[0] in ("params", "state") and isinstance(x[1], str)
            and x[2] in _DTYPES and _shape(x[3]) for x in h["tensors"])):
        return "has tensors that are not (group, name, dtype, shape) entries"
    return None


def problem(path: Path, obj) -> str | None:
    """What is wrong with ``obj``, read from ``path`` (by the file's name), or None."""
    path = Path(path)
    if not isinstance(obj, dict):
        return "does not hold a JSON object"
    name = path.name
    if name == "config.json":
        bad = _config(path, obj)
    elif name == "provenance.json":
        bad = _provenance(obj)
    elif name == "metrics.json":
        bad = _typed(obj, METRICS)
    elif path.parent.name == "golden":
        bad = _golden(obj)
    else:
        bad = None
    if bad:
        return bad
    where = _nonfinite(obj)
    return f"holds NaN or an infinity at {where}" if where else None
