"""Measurements on a figure's summaries that the published claims are judged with (LTH §2,
Figs. 1-8): accuracy and early stop at a density, gains over the dense network, the best level
(always chosen on validation, never on test), and the late-stop rule that bounds speed claims.

``df`` is ``summaries.load_summary`` output (accuracies as fractions, ``pm`` in percent).
"""

from __future__ import annotations

import pandas as pd


def _mean(df: pd.DataFrame, kind: str, level: int, col: str) -> float | None:
    v = df[(df.kind == kind) & (df.level == level)][col]
    return float(v.mean()) if len(v) else None


def level_at(df: pd.DataFrame, pm: float, tol: float = 0.3) -> int | None:
    """The pruning level whose mean Pm is within ``tol`` points of ``pm`` (None if not run)."""
    lv = df[df.kind == "imp"].groupby("level").pm.mean()
    hit = lv[(lv - pm).abs() <= tol]
    return int(hit.index[0]) if len(hit) else None


def acc(df, kind: str, pm: float, col: str = "early_stop_test_acc") -> float | None:
    lv = 0 if pm >= 100 else level_at(df, pm)
    v = None if lv is None else _mean(df, kind if lv else "imp", lv, col)
    return None if v is None else 100.0 * v


def gain(df, kind: str, pm: float, col: str = "early_stop_test_acc") -> float | None:
    """Points of test accuracy over the dense network (level 0, same trials)."""
    a, d = acc(df, kind, pm, col), acc(df, "imp", 100.0, col)
    return None if a is None or d is None else a - d


def earlier(df, kind: str, pm: float) -> float | None:
    """How much earlier than the dense network early stopping comes, in percent."""
    lv = level_at(df, pm)
    it, it0 = (None if lv is None else _mean(df, kind, lv, "early_stop_iter")), _mean(df, "imp", 0, "early_stop_iter")
    return None if it is None or not it0 else 100.0 * (1 - it / it0)


def speed_ratio(df, pm: float) -> float | None:
    """Reinitialised early-stop iteration / winning ticket's (LTH §2: "2.51× faster")."""
    lv = level_at(df, pm)
    if lv is None:
        return None
    a, b = _mean(df, "reinit", lv, "early_stop_iter"), _mean(df, "imp", lv, "early_stop_iter")
    return None if a is None or not b else a / b


def best(df, what: str, kind: str = "imp") -> tuple[float, float] | None:
    """Best value over pruned levels and its Pm: ``speedup`` (dense early-stop iteration ÷
    ours; the level with the largest speed-up, which no test number decides) or ``gain``
    (points of early-stop test accuracy over dense at the level whose early-stop *validation*
    accuracy is highest: the test set never picks the level, issue 10)."""
    sub = df[(df.kind == kind) & (df.level > 0)].groupby("level").agg(
        pm=("pm", "mean"), it=("early_stop_iter", "mean"), a=("early_stop_test_acc", "mean"),
        v=("early_stop_val_acc", "mean"))
    it0, a0 = _mean(df, "imp", 0, "early_stop_iter"), _mean(df, "imp", 0, "early_stop_test_acc")
    if sub.empty or it0 is None:
        return None
    if what == "speedup":
        val = it0 / sub.it.clip(lower=1)
        lv = val.idxmax()
    else:
        val, lv = 100.0 * (sub.a - a0), sub.v.idxmax()
    return float(val[lv]), float(sub.pm[lv])


def max_gain(df, col: str = "final_test_acc") -> float | None:
    """Gain in ``col`` over dense at the pruned level best on the matching validation column."""
    sub = df[(df.kind == "imp") & (df.level > 0)].groupby("level")[[col, col.replace("test", "val")]].mean()
    d = _mean(df, "imp", 0, col)
    if sub.empty or d is None:
        return None
    lv = sub[col.replace("test", "val")].idxmax()
    return 100.0 * float(sub[col][lv] - d)


def pm_range(df, kind: str, test: str) -> tuple[float, float] | None:
    """Range of Pm where ``kind`` beats the dense network: ``faster`` (earlier early stop) or
    ``better`` (higher early-stop test accuracy). None when it never does."""
    sub = df[(df.kind == kind) & (df.level > 0)].groupby("level").agg(
        pm=("pm", "mean"), it=("early_stop_iter", "mean"), a=("early_stop_test_acc", "mean"))
    ok = sub.it < _mean(df, "imp", 0, "early_stop_iter") if test == "faster" else \
        sub.a > _mean(df, "imp", 0, "early_stop_test_acc")
    return (float(sub.pm[ok].max()), float(sub.pm[ok].min())) if ok.any() else None


def lowest_pm(df) -> float:
    return float(df[df.kind == "imp"].pm.min())


# ---------------------------------------------------------------------------- late stops
# Issue 10: a claim about how early a network stops (early-stop iteration = minimum validation
# loss) is bounded by the schedule when that minimum lies at its very end. Rule, fixed before any
# new numbers: if the early-stop iteration of any network the claim compares, in any trial, is
# at or beyond LATE_STOP of its schedule, the verdict is "inconclusive at this budget".
LATE_STOP = 0.8


def late_stops(frames: dict[str, pd.DataFrame], nets: list[tuple[str, str, float]]) -> list[str]:
    """The compared networks ``(run, kind, Pm)`` (Pm 100 = the dense level 0) whose early stop
    lies in the last 20% of the schedule in some trial, described for the verdict."""
    out = []
    for run, kind, pm in nets:
        df = frames[run]
        lv = 0 if pm >= 100 else level_at(df, pm)
        if lv is None:
            continue
        rows = df[(df.kind == (kind if lv else "imp")) & (df.level == lv)]
        for _, r in rows.iterrows():
            if r.early_stop_iter >= LATE_STOP * r.iterations:
                who = f"{run} {kind if lv else 'dense'}" if run else (kind if lv else "dense")  # run: page's key
                out.append(f"{who} at Pm {r.pm:.1f}% stops at {int(r.early_stop_iter):,} "
                           f"of {int(r.iterations):,} (trial {int(r.seed)})")
    return out
