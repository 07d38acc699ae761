"""What a person types, checked before anything runs: ``--set`` overrides, ``--device``,
``--group``, a notebook's EXECUTOR, and the papermill parameters of every notebook's first cell.
A bad value is a one-line ``ConfigError`` (exit status 2 on the command line)."""

from __future__ import annotations

import argparse
import ast
import math
import re
import sys

from lthrepro.core.config import MAX_INT, PROFILES, Config, ConfigError, _is_int, _normalise, _show, field_rule
from lthrepro.core.presets import PRESETS


def parse_overrides(items: list[str] | None, option: str = "--set") -> dict:
    """``key=value`` pairs typed on a command line (the ``run`` CLI and the supermask driver):
    values are Python literals (``rates`` as a dict), anything else a string. Types and ranges
    are checked by ``make_config``/``validate``."""
    out = {}
    for it in items or []:
        if "=" not in it:
            raise ConfigError(f"{option} takes key=value, got '{it}'")
        k, v = it.split("=", 1)
        k = k.strip()
        if k not in Config.__dataclass_fields__:
            raise ConfigError(f"unknown config field '{k}' in {option}; see `python -m lthrepro list -v`")
        if k in ("preset", "profile"):
            raise ConfigError(f"{k} is not set with {option}: name it on the command line, "
                              "e.g. `run lenet --profile budget`")
        try:
            val = ast.literal_eval(v.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            val = v.strip()
        out[k] = _normalise(k, val)
    return out


class Parser(argparse.ArgumentParser):
    """Every command's parser: a bad option is one line naming it and the help to read, exit 2."""

    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        cmd = self.prog if self.prog.startswith("python") else f"python -m {self.prog}"
        who = "lthrepro.stability" if "lthrepro.stability" in self.prog else "lthrepro"
        sys.stderr.write(f"{who}: error: {' '.join(message.split())} (see `{cmd} -h`)\n")
        sys.exit(2)


def int_option(lo: int = 0, hi: int = MAX_INT):
    """An argparse ``type``: a whole number in [lo, hi] (huge numbers would overflow torch's seeds
    or loop for ever), else one line saying what to give."""
    def whole_number(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{_show(text)} is not a whole number; "
                                             f"give one from {lo} to {hi}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{_show(text)} is out of range; give a whole number from {lo} to {hi}")
        return v
    return whole_number


def float_option(lo: float, hi: float, lo_ok: bool = False, hi_ok: bool = False):
    """An argparse ``type``: a finite number in the interval (lo, hi), its ends included when
    ``lo_ok`` / ``hi_ok``."""
    span = f"{'[' if lo_ok else '('}{lo:g}, {hi:g}{']' if hi_ok else ')'}"

    def number(text: str) -> float:
        try:
            v = float(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"{_show(text)} is not a number; give one in {span}") from None
        if not math.isfinite(v) or not (lo <= v if lo_ok else lo < v) or not (v <= hi if hi_ok else v < hi):
            raise argparse.ArgumentTypeError(f"{_show(text)} is out of range; give a number in {span}")
        return v
    return number


def folder(text: str) -> str:
    """An argparse ``type``: a folder name; an empty one (``--results ''``) would silently mean
    the default folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; name a folder")
    return text


SEED = int_option(0)
DEADLINE = float_option(0, 1e7)  # seconds: up to about 115 days


def check_device(device: str, exists: bool = True) -> None:
    """``cpu``, ``cuda`` or ``cuda:N`` that this machine has (``exists=False``: any GPU, for an
    estimate made elsewhere); anything else is a one-line error."""
    import torch
    if not isinstance(device, str):
        raise ConfigError(f"device {device!r} must be a string: cpu, cuda or cuda:N")
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"unknown device '{device}'; use cpu, cuda or cuda:N") from None
    if d.type == "cuda" and exists and (not torch.cuda.is_available() or (d.index or 0) >= torch.cuda.device_count()):
        raise ConfigError(f"device '{device}' is not available on this machine (no such GPU); use --device cpu")
    if d.type not in ("cpu", "cuda"):
        raise ConfigError(f"unsupported device '{device}'; use cpu, cuda or cuda:N")
    if d.type == "cpu" and d.index not in (None, 0):
        raise ConfigError(f"device '{device}' names a CPU by number; use --device cpu (all cores)")


def check_group(group: int | None, option: str = "--group") -> None:
    """How many runs train together: a positive number (or None: chosen from the device)."""
    if group is not None and (not _is_int(group) or group < 1):
        raise ConfigError(f"{option} {group}: the number of runs trained together must be 1 or more")


EXECUTORS = ("local", "ray")


def parse_executor(spec) -> tuple[str, str | None]:
    """``local``, ``ray`` or ``ray:ADDRESS`` (a notebook's EXECUTOR) -> (executor, Ray address)."""
    name, _, address = str(spec).partition(":") if isinstance(spec, str) else ("", "", "")
    if name not in EXECUTORS or (name == "local" and address):
        raise ConfigError(f"EXECUTOR {spec!r} is unknown; use 'local', 'ray' or 'ray:ADDRESS' "
                          "(e.g. -p EXECUTOR ray:10.0.0.1:6379)")
    return name, address or None


def _unknown_parameters(ns: dict) -> tuple[list[str], list[str]]:
    """(names papermill injected that the page's parameters cell does not define, the names it
    defines), read from the kernel's cell history ``In``: papermill's injected cell is the one
    that starts with "# Parameters". Outside a notebook (no such cell): nothing is unknown."""
    cells = [c for c in ns.get("In", []) if isinstance(c, str)]
    assigned = [(c.lstrip().startswith("# Parameters"), set(re.findall(r"^([A-Za-z_]\w*)\s*=", c, re.M)))
                for c in cells]
    given = set().union(*[n for injected, n in assigned if injected])
    declared = set().union(*[n for injected, n in assigned if not injected])
    return sorted(given - declared), sorted(n for n in declared if n.isupper())


def check_parameters(PROFILE: str, SEEDS, DEVICE: str = "cpu", RESULTS_DIR=None, OVERRIDES=None,
                     EXECUTOR: str = "local", **extra) -> None:
    """First cell of every notebook: papermill parameters of the wrong kind, or unknown to the
    page, stop the notebook with one clear message instead of running on defaults (or training
    the wrong thing)."""
    unknown, declared = _unknown_parameters(sys._getframe(1).f_globals)
    if unknown:
        raise ConfigError(f"unknown parameter {unknown[0]}; this page takes {', '.join(declared)} "
                          "(papermill -p NAME VALUE)")
    if not isinstance(PROFILE, str) or PROFILE not in PROFILES:
        raise ConfigError(f"PROFILE {PROFILE!r} is unknown; pass -p PROFILE with one of {', '.join(PROFILES)}")
    if not isinstance(SEEDS, list | tuple) or not SEEDS or not all(_is_int(s) and s >= 0 for s in SEEDS):
        raise ConfigError(f"SEEDS {SEEDS!r} must be a non-empty list of non-negative integers, e.g. -y 'SEEDS: [0, 1]'")
    if len(set(SEEDS)) != len(SEEDS):
        raise ConfigError(f"SEEDS {list(SEEDS)} repeats a seed; give each trial once")
    if not isinstance(DEVICE, str):
        raise ConfigError(f"DEVICE {DEVICE!r} must be a string such as 'cpu' or 'cuda'")
    check_device(DEVICE)
    if RESULTS_DIR is not None and (not isinstance(RESULTS_DIR, str) or not RESULTS_DIR.strip()):
        raise ConfigError(f"RESULTS_DIR {RESULTS_DIR!r} must be a folder name (a non-empty string)")
    parse_executor(EXECUTOR)
    if OVERRIDES is not None:
        if not isinstance(OVERRIDES, dict):
            raise ConfigError(f"OVERRIDES {OVERRIDES!r} must be a mapping of config fields to values")
        bad = [k for k in OVERRIDES if k not in Config.__dataclass_fields__]
        if bad:
            raise ConfigError(f"OVERRIDES names unknown config field '{bad[0]}'; see `python -m lthrepro list -v`")
        for k, v in OVERRIDES.items():  # types and ranges that do not depend on the preset
            v = _normalise(k, v)
            rule = field_rule(k, v)
            if rule:
                raise ConfigError(f"OVERRIDES['{k}'] is {v!r}; it must be {rule}")
    if "PRESET" in extra and (not isinstance(extra["PRESET"], str) or extra["PRESET"] not in PRESETS):
        raise ConfigError(f"PRESET {extra['PRESET']!r} is unknown; pass -p PRESET with one of {', '.join(PRESETS)}")
