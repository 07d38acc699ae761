"""A run's frozen configuration: its fields, the rules their values obey, and the config hash.

The papers' presets and profiles that fill these fields are in ``presets`` (``make_config``);
what a person types on a command line or into a notebook is checked in ``userargs``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass, field

PROFILES = ("smoke", "budget", "paper")


class ConfigError(ValueError):
    """A bad value a user typed: shown as one line by the CLI (exit status 2)."""


@dataclass(frozen=True)
class Config:
    """Everything that determines a run's numbers. Fields excluded from the hash are listed
    in ``NOT_HASHED``: they change how much is run, not what each run computes."""

    preset: str
    model: str  # key of models.MODELS
    dataset: str  # "mnist" | "cifar10" | "synthetic"
    profile: str = "paper"
    # --- optimisation (LTH Fig. 2) ---
    optimizer: str = "adam"  # "adam" | "sgd"
    lr: float = 1.2e-3
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int = 60
    iterations: int = 50_000
    warmup: int = 0  # linear warmup iterations (LTH §4, Figs. 7-8)
    milestones: tuple[int, ...] = ()  # iterations at which lr is multiplied by gamma
    gamma: float = 0.1
    dropout: float = 0.0  # on fc layers (LTH App. H.5)
    augment: bool = False  # pad-4 crop + flip (VGG/ResNet only, LTH App. I)
    eval_every: int = 100  # LTH §1 fn. 2: validation and test every 100 iterations
    # --- data ---
    val_size: int = 5_000  # held out of the training set (LTH App. G.1, H.1, I.3)
    train_limit: int = 0  # 0 = all remaining training examples (smoke uses a subset)
    test_limit: int = 0  # 0 = the whole test split available
    split_seed: int = 0
    # --- pruning (LTH §1, App. B) ---
    scope: str = "layerwise"  # "layerwise" | "global"
    rates: tuple[tuple[str, float], ...] = (("fc", 0.2), ("output", 0.1))
    levels: int = 20  # pruning levels after the dense level 0
    rewind: int = 0  # 0 = reset to θ0 (LTH); k > 0 = rewind to iteration k (STAB)
    criterion: str = "large_final"  # mask criterion (Zhou et al. 2019)
    mask1: str = "reset"  # what kept weights start from (Zhou et al. §3)
    mask0: str = "zero"  # what pruned weights are (Zhou et al. §4)
    # --- learned supermask (Zhou et al. §5.3; supermask.py): weights frozen, mask learned ---
    supermask: str = ""  # "" = off; "learned" = train Bernoulli(sigmoid(score)) masks
    supermask_weights: str = "init"  # frozen weights: "init" (θ0) | "signed_constant"
    dwr: bool = False  # dynamic weight rescaling (Zhou et al. §5.3)
    sigmoid_bias: float = 0.0  # initial mask score (sigmoid(0) = keep with probability 1/2)
    # --- network slimming (Liu et al. 2017; You et al. 2020 early-bird code): s in γ.grad += s·sign(γ)
    slim_l1: float = 0.0
    # --- controls (LTH §2: random reinit 3 per trial; App. E random sparse) ---
    reinits: int = 3
    random_prune: int = 0
    oneshot: bool = False
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    # Where the test split is evaluated at every evaluation (issue 20): "all" runs; "fig3" only the
    # IMP and reinit runs at the densities LTH Fig. 3 plots (presets.FIG3_PM); "minima" none (a
    # figure of early-stop and final accuracies only, Figs. 5-8). Runs without a curve are tested
    # only at new validation minima and at the end, which leaves every reported accuracy the same.
    test_curves: str = "all"
    extra: tuple[tuple[str, str], ...] = field(default=())  # free-form, hashed

    def rate(self, kind: str) -> float:
        return dict(self.rates).get(kind, 0.0)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Fields that do not change the numbers of any single run (how many levels or trials we run,
# which profile label produced it): extending levels or seeds reuses finished results.
NOT_HASHED = frozenset({"profile", "levels", "reinits", "random_prune", "oneshot", "seeds", "test_curves"})


# Fields added after results were first committed: hashed only when they differ from their
# default, so adding an option never orphans existing results.
LATE_FIELDS: dict[str, object] = {"supermask": "", "supermask_weights": "init", "dwr": False,
                                   "sigmoid_bias": 0.0, "slim_l1": 0.0}


def config_hash(cfg: Config) -> str:
    """Short, stable hash of the fields that determine a run's numbers."""
    d = {k: v for k, v in cfg.to_dict().items() if k not in NOT_HASHED
         and not (k in LATE_FIELDS and v == LATE_FIELDS[k])}
    blob = json.dumps(d, sort_keys=True, default=list).encode()
    return hashlib.sha256(blob).hexdigest()[:8]


def derive_seed(*parts) -> int:
    """Stable seed from a tuple of parts, e.g. ("reinit", trial, rep, level): a control's init or
    a run's noise must not collide with a trial's, and must not depend on the run's group."""
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:8], 16)


def run_name(cfg: Config) -> str:
    """Results folder name: preset + short config hash."""
    return f"{cfg.preset}-{config_hash(cfg)}"


# ------------------------------------------------------------------------------ validation
DATASETS = ("mnist", "cifar10", "synthetic")
_FLOATS = {k for k, f in Config.__dataclass_fields__.items() if f.type == "float"}
_PAIRS = ("rates", "extra")


def _normalise(key: str, v):
    """What a user or a notebook naturally types, in the Config's own types (so equal settings
    hash equally): lists -> tuples, a single seed or milestone -> a 1-tuple, a ``rates``
    mapping -> pairs, integers in float fields -> floats."""
    if key in _PAIRS and isinstance(v, dict):
        v = tuple(v.items())
    if key in _PAIRS and isinstance(v, list | tuple):
        v = tuple(tuple(p) if isinstance(p, list) else p for p in v)
        if key == "rates":
            v = tuple((p[0], float(p[1])) if isinstance(p, tuple) and len(p) == 2 and _is_int(p[1]) else p
                      for p in v)
    if key in ("seeds", "milestones") and _is_int(v):
        v = (v,)
    if isinstance(v, list):
        v = tuple(v)
    if key in _FLOATS and _is_int(v) and abs(v) < 2 ** 1023:  # larger: left an int, refused by the rule
        v = float(v)
    return v


def config_from_dict(d: dict) -> Config:
    """The Config of a config.json's ``config`` mapping (lists back to tuples), validated: a
    missing, unknown or bad field is a ConfigError."""
    if not isinstance(d, dict):
        raise ConfigError(f"config {_show(d)} is not a mapping of fields")
    unknown = [k for k in d if k not in Config.__dataclass_fields__]
    if unknown:
        raise ConfigError(f"unknown config field '{unknown[0]}'")
    try:
        cfg = Config(**{k: () if v is None and k in ("milestones", "extra") else _normalise(k, v)
                        for k, v in d.items()})
    except TypeError as e:
        raise ConfigError(f"config lacks a field ({e})") from None
    validate(cfg)
    return cfg


def _show(v) -> str:
    """A value as typed, shortened: a 400-digit number must not fill the error line."""
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, float) and math.isfinite(v) or _is_int(v) and abs(v) <= MAX_INT


# The largest integer any count, iteration or seed may be: torch seeds, numpy and range() all
# take it, and no schedule on any machine runs longer.
MAX_INT = 2 ** 31 - 1


def _is_count(v) -> bool:
    return _is_int(v) and v <= MAX_INT


# field -> (is the type right, is the value in range, what it must be)
_NUMBERS: dict[str, tuple] = {
    "lr": (_is_num, lambda v: v > 0, "a positive number"),
    "momentum": (_is_num, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "weight_decay": (_is_num, lambda v: v >= 0, "a number >= 0"),
    "gamma": (_is_num, lambda v: 0 < v <= 1, "a number in (0, 1]"),
    "dropout": (_is_num, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "sigmoid_bias": (_is_num, lambda v: True, "a finite number"),
    "slim_l1": (_is_num, lambda v: v >= 0, "a number >= 0 (the L1 coefficient on batch-norm scales)"),
    **{k: (_is_count, lambda v: v >= 1, f"a positive integer up to {MAX_INT}")
       for k in ("batch_size", "iterations", "eval_every", "val_size")},
    **{k: (_is_count, lambda v: v >= 0, f"an integer from 0 to {MAX_INT}")
       for k in ("warmup", "train_limit", "test_limit", "split_seed", "levels", "rewind", "reinits",
                 "random_prune")},
    **{k: (lambda v: isinstance(v, bool), lambda v: True, "True or False")
       for k in ("augment", "oneshot", "dwr")},
}


def field_rule(key: str, value) -> str | None:
    """What a numeric or boolean field must be ("an integer >= 0", ...) when ``value`` breaks
    its rule in ``_NUMBERS``; None when it is fine or the field has no such rule."""
    if key in _NUMBERS and not (_NUMBERS[key][0](value) and _NUMBERS[key][1](value)):
        return _NUMBERS[key][2]
    return None


def _choices() -> dict[str, tuple[str, object]]:
    """Fields naming one entry of a registry: field -> (what it is, the registry)."""
    from lthrepro.core import actions, models, pruning  # registries live beside the code they name
    return {"model": ("model", models.MODELS), "dataset": ("data set", DATASETS),
            "profile": ("profile", PROFILES), "optimizer": ("optimizer", ("adam", "sgd")),
            "scope": ("pruning scope", ("layerwise", "global")),
            "criterion": ("mask criterion", pruning.CRITERIA), "mask1": ("mask-1 action", actions.MASK1),
            "mask0": ("mask-0 action", actions.MASK0), "supermask": ("supermask", ("", "learned")),
            "supermask_weights": ("supermask_weights", ("init", "signed_constant")),
            "test_curves": ("test_curves policy", ("all", "fig3", "minima"))}


def validate(cfg: Config) -> None:
    """Reject every value of the wrong type or out of range, naming the field and the fix, before
    anything is trained or written (a wrong value would silently produce nonsense)."""
    for k, (is_type, ok, what) in _NUMBERS.items():
        v = getattr(cfg, k)
        if not is_type(v) or not ok(v):
            raise ConfigError(f"{k} is {_show(v)}; it must be {what}")
    if not isinstance(cfg.preset, str) or not _NAME.match(cfg.preset):
        raise ConfigError(f"preset name {cfg.preset!r} must be letters, digits, '.', '_', '+' or '-' "
                          "(it names the results folder)")
    for k, (what, reg) in _choices().items():
        v = getattr(cfg, k)
        if not isinstance(v, str) or v not in reg:
            if k == "supermask":
                raise ConfigError(f"unknown supermask '{v}'; choose learned (or leave it empty)")
            raise ConfigError(f"unknown {what} '{v}'; choose one of {', '.join(reg)}")
    from lthrepro.core import models
    if cfg.dataset != "synthetic" and models.INPUT_SHAPE[cfg.model] != _DATA_SHAPE[cfg.dataset]:
        raise ConfigError(f"model {cfg.model} does not take {cfg.dataset} images; use the preset made "
                          "for this data set (see `python -m lthrepro list`)")
    if cfg.augment and len(models.INPUT_SHAPE[cfg.model]) != 3:
        raise ConfigError(f"augment=True crops and flips images; model {cfg.model} takes flat inputs")
    if not isinstance(cfg.milestones, tuple) or not all(_is_count(m) and m >= 1 for m in cfg.milestones):
        raise ConfigError(f"milestones is {_show(cfg.milestones)}; it must be a list of positive iterations, "
                          "e.g. milestones=[20000,25000]")
    if not isinstance(cfg.seeds, tuple) or not cfg.seeds or not all(_is_count(s) and s >= 0 for s in cfg.seeds):
        raise ConfigError(f"seeds is {_show(cfg.seeds)}; it must be a non-empty list of integers from 0 to {MAX_INT}")
    if len(set(cfg.seeds)) != len(cfg.seeds):
        raise ConfigError(f"seeds {list(cfg.seeds)} repeat a seed; give each trial once")
    _validate_rates(cfg)
    if not isinstance(cfg.extra, tuple) or not all(
            isinstance(p, tuple) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in cfg.extra):
        raise ConfigError(f"extra is {_show(cfg.extra)}; it must be a list of (name, text) pairs")
    if not cfg.rewind < cfg.iterations:
        raise ConfigError(f"rewind iteration {cfg.rewind} must lie in [0, iterations)")
    _validate_levels(cfg)
    if cfg.train_limit and cfg.batch_size > cfg.train_limit:
        raise ConfigError(f"batch_size {cfg.batch_size} is larger than train_limit {cfg.train_limit}; "
                          "lower batch_size or raise train_limit")


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*\Z")
_DATA_SHAPE = {"mnist": (784,), "cifar10": (3, 32, 32)}


def _validate_rates(cfg: Config) -> None:
    from lthrepro.core import models
    kinds = sorted(set(models.layer_kinds(cfg.model).values()))
    if not isinstance(cfg.rates, tuple) or not all(isinstance(p, tuple) and len(p) == 2 for p in cfg.rates):
        raise ConfigError(f"rates is {_show(cfg.rates)}; it must map layer kinds to rates, "
                          "e.g. rates={'fc': 0.2, 'output': 0.1}")
    for kind, r in cfg.rates:
        if kind not in kinds:
            raise ConfigError(f"rates names layer kind '{kind}', which {cfg.model} does not have; "
                              f"choose from {', '.join(kinds)}")
        if not _is_num(r) or not 0.0 <= r < 1.0:
            raise ConfigError(f"pruning rate for '{kind}' is {_show(r)}; it must lie in [0, 1)")
    if len({k for k, _ in cfg.rates}) != len(cfg.rates):
        raise ConfigError(f"rates {dict(cfg.rates)} names a layer kind twice; give each once")


def last_level(cfg: Config) -> int:
    """The last pruning level that removes a weight (each level removes round(rate x surviving)
    of a layer, or of the pool of globally pruned layers): deeper levels would repeat it."""
    from lthrepro.core import models
    pools: dict[str, list] = {}
    for name, kind, shape in models.SPECS[cfg.model]:
        if kind != "bn":
            key = "global" if cfg.scope == "global" and kind == "conv" else name
            pools.setdefault(key, [0, kind])[0] += math.prod(shape)
    deepest = 0
    for n, kind in pools.values():
        r, level = cfg.rate(kind), 0
        while r > 0 and n - round(r * n) >= 1 and round(r * n) > 0:
            n, level = n - round(r * n), level + 1
        deepest = max(deepest, level)
    return deepest


def _validate_levels(cfg: Config) -> None:
    deepest = last_level(cfg)
    if deepest and cfg.levels > deepest:  # (all rates 0, as for channel pruning: levels unused)
        raise ConfigError(f"levels is {cfg.levels}; at these pruning rates no weight is pruned after level "
                          f"{deepest}: choose levels <= {deepest}")
