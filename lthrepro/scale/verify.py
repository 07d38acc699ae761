"""``python -m lthrepro verify RESULT [--levels 0-1]`` (issue 11): retrain levels of a committed
result into a scratch folder and report, per run and metric, identical or different (with the
largest difference), and whether the platform matches the recorded one (exact identity is
expected only there)."""

from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
from pathlib import Path

import torch

from lthrepro.core.config import Config, ConfigError, config_from_dict
from lthrepro.experiments.lottery import Runner
from lthrepro.store import results as res
from lthrepro.store import state as st
from lthrepro.store import summaries
from lthrepro.store.numerics import fingerprint, recorded


def config_of(run_dir: Path) -> Config:
    """The Config a results folder was trained with (its config.json, checked on reading:
    ``store/schema``); only LTH runs (``<preset>-<hash>``) are retrained here."""
    name = Path(run_dir).name
    if name.startswith(("stability-", "earlybird-")):
        raise ConfigError(f"{name} is a {name.split('-')[0]} result; verify retrains LTH runs "
                          "(folders named <preset>-<hash>, e.g. lenet-19262789)")
    return config_from_dict(res.read_json(Path(run_dir) / "config.json")["config"])


def parse_levels(spec: str, last: int) -> list[int]:
    """'0', '0-3' or 'all' -> level numbers within 0..last."""
    try:
        if spec == "all":
            return list(range(last + 1))
        a, _, b = spec.partition("-")
        lo, hi = int(a), int(b or a)
        if len(spec) > 20:
            raise ValueError(spec)
    except ValueError:
        raise ConfigError(f"--levels '{spec}' is not a level or range; use e.g. 0, 0-1 or all") from None
    if not 0 <= lo <= hi <= last:
        raise ConfigError(f"--levels {spec} is outside the result's levels 0-{last}")
    return list(range(lo, hi + 1))


# Where a run's files came from, not what it computed (run_family copies a shared level 0).
PROVENANCE_KEYS = frozenset({"copied_from"})
# Level state (issue 20): compared when the committed metrics have it; results trained before it
# existed do not, and are compared on what they recorded.
STATE_KEYS = frozenset({"mask_sha256", "next_mask_sha256", "theta0_sha256", "oneshot_mask_sha256",
                        "rewind_sha256", "numerics", "threads"})


def _same(x, y) -> bool:
    """Equal, with NaN equal to NaN (e.g. a train accuracy that was not measured)."""
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(_same(p, q) for p, q in zip(x, y, strict=True))
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return x == y


def compare_metrics(a: dict, b: dict) -> tuple[list[str], float]:
    """(names of metrics that differ, largest absolute difference over numeric entries)."""
    diff, worst = [], 0.0
    for k in sorted((set(a) | set(b)) - PROVENANCE_KEYS - (STATE_KEYS - set(a))):
        x, y = a.get(k), b.get(k)
        if _same(x, y):
            continue
        diff.append(k)
        xs, ys = (x if isinstance(x, list) else [x]), (y if isinstance(y, list) else [y])
        if all(isinstance(v, int | float) for v in xs + ys) and len(xs) == len(ys):
            worst = max([worst] + [abs(p - q) for p, q in zip(xs, ys, strict=True)])
        else:
            worst = math.inf
    return diff, worst


def verify(run_dir: Path, levels: str = "0", device: str = "cpu", scratch: Path | None = None) -> tuple[bool, str]:
    """Retrain ``levels`` of a committed result into a scratch folder; (identical?, report)."""
    if not Path(run_dir).is_dir() or not str(run_dir).strip():
        raise ConfigError(f"no results folder {run_dir}; name one of `python -m lthrepro list`, e.g. lenet-19262789")
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").exists():
        raise ConfigError(f"{run_dir} is not a results folder (no config.json); see `python -m lthrepro list`")
    cfg = config_of(run_dir)
    summaries.check_run_dir(run_dir)  # every committed file readable before a comparison is made
    want = parse_levels(levels, cfg.levels)
    cfg = dataclasses.replace(cfg, levels=max(want))
    fp = fingerprint(device)
    rec = recorded(run_dir)
    lines = [f"verify {run_dir.name} levels {want[0]}-{want[-1]} on {fp['platform']}"]
    same_platform = bool(rec) and all(r["platform"] == fp["platform"] for r in rec)
    # Exact identity is expected where the golden run gives the recorded fingerprint here (same
    # numerics), or on the recorded CPU kind; another CPU kind differs in the last bits.
    other_cpu = same_platform and all(r["fingerprint"] != fp["fingerprint"] and r.get("cpu") != fp.get("cpu")
                                      for r in rec)
    if not same_platform:
        where = ", ".join(sorted({r["platform"] for r in rec})) or "an unrecorded platform"
        lines.append(f"note: recorded on {where}; exact identity is not expected across platforms")
    elif other_cpu:
        where = ", ".join(sorted({r.get("cpu") or "an unrecorded CPU kind" for r in rec}))
        lines.append(f"note: recorded on {where} (fingerprint {rec[-1]['fingerprint']}), this CPU is "
                     f"{fp.get('cpu')} (fingerprint {fp['fingerprint']}); exact identity is not expected "
                     "across CPU kinds")
        same_platform = False
    elif fp.get("mode", "native") not in (modes := {r.get("mode", "native") for r in rec}):  # store/portable.py
        lines.append(f"note: trained in numerics mode {', '.join(sorted(modes))}, this process runs "
                     f"{fp.get('mode', 'native')}; "
                     "exact identity is not expected across modes: set LTHREPRO_NUMERICS to the recorded one")
        same_platform = False
    # A CPU run's last bits depend on torch's thread count: retrain with the recorded one.
    counts = sorted({r["threads"] for r in rec if r.get("threads")})
    per_level = {res.read_json(mj).get("threads") for mj in run_dir.glob("*/s*r*/level*/metrics.json")
                 if int(mj.parent.name[5:]) in want} - {None}
    if per_level:  # recorded per level (issue 20): the levels asked for decide
        counts = sorted(per_level)
    before = torch.get_num_threads()
    if len(counts) == 1 and counts[0] != before:
        torch.set_num_threads(counts[0])
        lines.append(f"threads: {counts[0]}, as recorded (this process had {before})")
    elif len(counts) > 1:
        lines.append(f"note: trained with {' and '.join(map(str, counts))} torch threads in different sessions; "
                     "exact identity is expected only for the sessions with this process's count")
    try:
        ok, body = _retrain_and_compare(run_dir, cfg, want, device, scratch)
    finally:
        torch.set_num_threads(before)
    lines += body
    lines.append("result: " + ("identical" if ok else "DIFFERENT"))
    return ok or not same_platform, "\n".join(lines)


def _from_state(run_dir: Path, cfg: Config, level: int) -> bool:
    """Can ``level`` be retrained alone, from the committed level state of the level before?"""
    return level > 0 and all(
        st.has(res.member_dir(run_dir, "imp", s, 0, level - 1), st.NEXT_MASK) for s in cfg.seeds) and (
        not cfg.oneshot or all(st.has(res.member_dir(run_dir, "imp", s, 0, 0), st.ONESHOT) for s in cfg.seeds))


def _retrain_and_compare(run_dir: Path, cfg: Config, want: list[int], device: str, scratch) -> tuple[bool, list[str]]:
    lines: list[str] = []
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        r = Runner(cfg, device, Path(tmp))
        first = 0
        if _from_state(run_dir, cfg, want[0]):
            # One training run per member of the levels asked for (issue 20): the levels before
            # come from the committed files (metrics and level state, no tensors), as in a clone.
            first = want[0]
            shutil.copytree(run_dir, r.dir, ignore=lambda d, names: [
                n for n in names if n.endswith(".pt") or (n.startswith("level") and int(n[5:]) >= first)])
            lines.append(f"  levels 0-{first - 1}: from the committed level state (not retrained)")
        elif want[0] > 0:
            lines.append(f"  levels 0-{want[0] - 1}: retrained (this result has no committed level state)")
        for level in range(first, max(want) + 1):
            r.run_level(level)
        ok = True
        for mj in sorted(run_dir.glob("*/s*r*/level*/metrics.json")):
            rel = mj.relative_to(run_dir)
            level = int(rel.parts[2][5:])
            if level not in want or int(rel.parts[1][1:].split("r")[0]) not in cfg.seeds:
                continue
            new = r.dir / rel
            if not new.exists():
                lines.append(f"  {rel.parent}: not retrained (not part of this config's plan)")
                ok = False
                continue
            diff, worst = compare_metrics(res.read_json(mj), res.read_json(new))
            ok &= not diff
            lines.append(f"  {rel.parent}: " + ("identical" if not diff else
                                                f"different in {', '.join(diff[:6])} (largest difference {worst:.3g})"))
    return ok, lines
