"""What a person types, checked before anything runs: ``--set`` overrides, ``--device``,
``--group``, a notebook's EXECUTOR, and the papermill parameters of every notebook's first cell.
A bad value is a one-line ``ConfigError`` (exit status 2 on the command line)."""

from __future__ import annotations

import ast

from lthrepro.core.config import PROFILES, Config, ConfigError, _is_int, _normalise, field_rule
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


def check_device(device: str) -> None:
    """``cpu``, ``cuda`` or ``cuda:N`` that this machine has; anything else is a one-line error."""
    import torch
    if not isinstance(device, str):
        raise ConfigError(f"device {device!r} must be a string: cpu, cuda or cuda:N")
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"unknown device '{device}'; use cpu, cuda or cuda:N") from None
    if d.type == "cuda" and (not torch.cuda.is_available() or (d.index or 0) >= torch.cuda.device_count()):
        raise ConfigError(f"device '{device}' is not available on this machine (no such GPU); use --device cpu")
    if d.type not in ("cpu", "cuda"):
        raise ConfigError(f"unsupported device '{device}'; use cpu, cuda or cuda:N")


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


def check_parameters(PROFILE: str, SEEDS, DEVICE: str = "cpu", RESULTS_DIR=None, OVERRIDES=None,
                     EXECUTOR: str = "local", **extra) -> None:
    """First cell of every notebook: papermill parameters of the wrong kind stop the notebook
    with one clear message instead of running on defaults (or training the wrong thing)."""
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
