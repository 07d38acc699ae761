"""Published claims of LTH v5 (and STAB-v3 where it gives the number) and the paper-vs-ours table.

Every claim is transcribed from ``shared/reference/paper-numbers.md`` (section named in
``source``) with its confidence tag. Claims tagged P≈ (read off a plot), S used as a proxy, or
unverified are *approximate*: shown with "≈" and never turned into a pass/fail check. The
other claims carry a check fixed here in advance (a direction, a threshold or a tolerance taken
from the paper's own spread); it is never adjusted to what a run gives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

APPROXIMATE = ("P≈", "unverified", "S")


# ------------------------------------------------------------------ measurements on summaries
# ``df`` is ``summaries.load_summary`` output (accuracies as fractions, ``pm`` in percent).

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


# --------------------------------------------------------------------------------- claims
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
                out.append(f"{kind if lv else 'dense'} at Pm {r.pm:.1f}% stops at {int(r.early_stop_iter):,} "
                           f"of {int(r.iterations):,} (trial {int(r.seed)})")
    return out


def _best_level_pm(df: pd.DataFrame, what: str) -> float:
    b = best(df, what)
    return 100.0 if b is None else b[1]


@dataclass(frozen=True)
class Claim:
    quantity: str  # what the paper says, in a few words
    paper: str  # the paper's value as printed
    value: float | None  # numeric paper value for the difference column (None: qualitative)
    tag: str  # T, D, S, P≈, unverified (paper-numbers.md)
    source: str  # where in which paper
    measure: Callable  # fn(frames: dict[str, DataFrame]) -> float | tuple | None
    check: Callable | None = None  # fn(ours) -> bool; None: shown, not judged
    rule: str = ""  # the check in words (shown in the table)
    run: str = ""  # which of the figure's runs (frames key); "" = the only one
    # speed claims: fn(frames) -> the networks compared, [(run, kind, Pm)]; see LATE_STOP
    speed: Callable | None = None


def _fmt(v, unit: str = "") -> str:
    if v is None:
        return "not in this run"
    if isinstance(v, tuple):
        return f"{v[0]:.2f}{unit} at Pm {v[1]:.1f}%" if unit == "×" else \
            (f"{v[0]:+.2f} pts at Pm {v[1]:.1f}%" if unit == "pts@" else f"{v[0]:.1f}% ≥ Pm ≥ {v[1]:.1f}%")
    return f"{v:+.2f} pts" if unit == "pts" else f"{v:.2f}{unit}"



F = "early_stop_test_acc"
LENET = "LTH-v5 §2"
CLAIMS: dict[str, list[tuple[Claim, str]]] = {
    "fig01": [
        (Claim("Random sparse networks learn more slowly as Pm falls (early stop later than "
               "dense, sparsest level)", "slower (plot only)", None, "P≈", "LTH-v5 Fig. 1, §1",
               lambda f: -earlier(f[""], "random", lowest_pm(f[""]))), "%"),
        (Claim("Random sparse networks reach lower test accuracy as Pm falls (sparsest vs "
               "dense)", "lower (plot only)", None, "P≈", "LTH-v5 Fig. 1, §1",
               lambda f: gain(f[""], "random", lowest_pm(f[""]))), "pts"),
        (Claim("Winning tickets beat random sparse networks at the sparsest level (test acc. "
               "at early stop, ticket − random)", "higher (plot only)", None, "P≈",
               "LTH-v5 Fig. 1", lambda f: acc(f[""], "imp", lowest_pm(f[""]))
               - acc(f[""], "random", lowest_pm(f[""]))), "pts"),
    ],
    "fig03": [
        (Claim("Dense Lenet test accuracy (final)", "98.0 ± 0.2%", 98.0, "T", "STAB-v3 Fig. 2",
               lambda f: acc(f[""], "imp", 100, "final_test_acc"),
               lambda v: abs(v - 98.0) <= 0.2, "within ±0.2 (paper's spread)"), "%"),
        (Claim("Pm 51.3%: higher test accuracy than the original (at early stop)", "higher",
               None, "T", LENET, lambda f: gain(f[""], "imp", 51.3), lambda v: v > 0, "> 0"), "pts"),
        (Claim("Pm 51.3%: learns faster than the original (early stop earlier by)", "faster",
               None, "T", LENET, lambda f: earlier(f[""], "imp", 51.3), lambda v: v > 0, "> 0",
               speed=lambda f: [("", "imp", 100), ("", "imp", 51.3)]), "%"),
        (Claim("Pm 3.6%: regresses to the original's accuracy (gap at early stop)", "back to the original",
               0.0, "T", LENET, lambda f: gain(f[""], "imp", 3.6), lambda v: abs(v) <= 0.3,
               "|gap| ≤ 0.3"), "pts"),
        (Claim("Reinitialised Pm 21.1% learns slower than the ticket (reinit/ticket early-stop "
               "iteration)", "slower", None, "T", LENET, lambda f: speed_ratio(f[""], 21.1),
               lambda v: v > 1, "> 1", speed=lambda f: [("", "imp", 21.1), ("", "reinit", 21.1)]), "×"),
    ],
    "fig04": [
        (Claim("Pm 21.1%: early stopping earlier than the original by", "38%", 38.0, "T", LENET,
               lambda f: earlier(f[""], "imp", 21.1), lambda v: v > 0, "> 0 (direction)",
               speed=lambda f: [("", "imp", 100), ("", "imp", 21.1)]), "%"),
        (Claim("Pm 13.5%: test accuracy at early stop above the original by", "> +0.3 pts", 0.3,
               "T", LENET, lambda f: gain(f[""], "imp", 13.5), lambda v: v > 0.3, "> 0.3"), "pts"),
        (Claim("Pm 21.1%: reinitialised accuracy falls below the original (reinit − dense)",
               "below", None, "T", LENET, lambda f: gain(f[""], "reinit", 21.1),
               lambda v: v < 0, "< 0"), "pts"),
        (Claim("Pm 21.1%: ticket reaches min. validation loss faster than reinit", "2.51×",
               2.51, "T", LENET, lambda f: speed_ratio(f[""], 21.1), lambda v: v > 1,
               "> 1 (direction)", speed=lambda f: [("", "imp", 21.1), ("", "reinit", 21.1)]), "×"),
        (Claim("Pm 21.1%: ticket more accurate than reinit (early stop)", "about +0.5 pts", 0.5, "T",
               LENET, lambda f: acc(f[""], "imp", 21.1) - acc(f[""], "reinit", 21.1),
               lambda v: v > 0, "> 0 (direction)"), "pts"),
        (Claim("Winning ticket at Pm 10.7% (ours 10.8%), final test accuracy", "98.3 ± 0.1%",
               98.3, "T", "STAB-v3 Fig. 3", lambda f: acc(f[""], "imp", 10.8, "final_test_acc"),
               lambda v: abs(v - 98.3) <= 0.1, "within ±0.1 (paper's spread)"), "%"),
        (Claim("Fig. 4b: gain in final test accuracy over the original (level best on validation)", "up to +0.35 pts",
               0.35, "T", "LTH-v5 §2, Fig. 4b", lambda f: max_gain(f[""]),
               lambda v: v > 0, "> 0 (direction)"), "pts"),
        (Claim("One-shot: Pm range with earlier early stopping than the original",
               "67.5% ≥ Pm ≥ 17.6%", None, "T", "LTH-v5 §2, Fig. 4c",
               lambda f: pm_range(f[""], "oneshot", "faster")), "range"),
        (Claim("One-shot: Pm range with higher test accuracy than the original",
               "95.0% ≥ Pm ≥ 5.17%", None, "T", "LTH-v5 §2, Fig. 4c",
               lambda f: pm_range(f[""], "oneshot", "better")), "range"),
        (Claim("Iterative beats one-shot at the sparsest level (early-stop test acc.)", "higher",
               None, "T", "LTH-v5 §2, Fig. 4c", lambda f: acc(f[""], "imp", lowest_pm(f[""]))
               - acc(f[""], "oneshot", lowest_pm(f[""])), lambda v: v > 0, "> 0"), "pts"),
    ],
}

_CONV = {"conv2": ("3.5× at 8.8%", 3.5, "+3.4 pts at 4.6%", 3.4, "69.2%", 69.2),
         "conv4": ("3.5× at 9.2%", 3.5, "+3.5 pts at 11.1%", 3.5, "75.4%", 75.4),
         "conv6": ("2.5× at 15.1%", 2.5, "+3.3 pts at 26.4%", 3.3, "78.3%", 78.3)}
CLAIMS["fig05"] = [c for net, (sp, spv, ga, gav, dense, dv) in _CONV.items() for c in (
    (Claim(f"{net}: dense test accuracy (final; proxy: Zhou et al. trained weights)", f"≈ {dense}",
           dv, "S", "DLT Table 2 via survey (paper-numbers §1.5)",
           lambda f, n=net: acc(f[n], "imp", 100, "final_test_acc"), run=net), "%"),
    (Claim(f"{net}: best early-stop speed-up of a winning ticket", sp, spv, "T", "LTH-v5 §3, Fig. 5",
           lambda f, n=net: best(f[n], "speedup"), lambda v: v[0] > 1, "> 1× (direction)", run=net,
           speed=lambda f, n=net: [(n, "imp", 100), (n, "imp", _best_level_pm(f[n], "speedup"))]), "×"),
    (Claim(f"{net}: gain in test accuracy at early stop (level best on validation)", ga, gav, "T", "LTH-v5 §3, Fig. 5",
           lambda f, n=net: best(f[n], "gain"), lambda v: v[0] > 0, "> 0 (direction)", run=net), "pts@"),
)]
_DROP = {"conv2": ("+2.1 pts", 2.1, "up to +2.3 pts", 2.3), "conv4": ("+3.0 pts", 3.0, "up to +4.6 pts", 4.6),
         "conv6": ("+2.4 pts", 2.4, "up to +4.7 pts", 4.7)}
CLAIMS["fig06"] = [c for net, (dg, dgv, pg, pgv) in _DROP.items() for c in (
    (Claim(f"{net}: dropout's gain in dense test accuracy (early stop)", dg, dgv, "T", "LTH-v5 §3, Fig. 6",
           lambda f, n=net: acc(f[f"{n}-dropout"], "imp", 100) - acc(f[n], "imp", 100),
           lambda v: v > 0, "> 0 (direction)", run=f"{net}-dropout"), "pts"),
    (Claim(f"{net}: further gain from pruning with dropout (level best on validation, early stop)", pg, pgv, "T",
           "LTH-v5 §3, Fig. 6", lambda f, n=net: best(f[f"{n}-dropout"], "gain"),
           lambda v: v[0] > 0, "> 0 (direction)", run=f"{net}-dropout"), "pts@"),
)]
def _dense(net: str, setting: str, paper: str, value: float, tol: float, source: str, run: str) -> tuple:
    """Final dense test accuracy of one run against a published value ± ``tol`` points."""
    return (Claim(f"{net} dense test accuracy, {setting}", paper, value, "T", source,
                  lambda f: acc(f[run], "imp", 100, "final_test_acc"),
                  lambda v: abs(v - value) <= tol, f"within ±{tol:g}", run=run), "%")


CLAIMS["fig07"] = [
    _dense("VGG-19", "lr 0.1", "91.5 ± 0.2%", 91.5, 0.2, "STAB-v3 Fig. 2", "vgg19"),
    _dense("VGG-19", "lr 0.01", "92.0 ± 0.1%", 92.0, 0.1, "STAB-v3 Fig. 2", "vgg19-lr0.01"),
    _dense("VGG-19", "lr 0.1 + 10K warmup", "92.3 ± 0.1%", 92.3, 0.1, "STAB-v3 Fig. 2", "vgg19-warmup10k"),
    (Claim("Warmup raises dense accuracy over lr 0.1 (final)", "about +1 pt", 1.0, "T", "LTH-v5 §4",
           lambda f: acc(f["vgg19-warmup10k"], "imp", 100, "final_test_acc")
           - acc(f["vgg19"], "imp", 100, "final_test_acc"), lambda v: v > 0, "> 0 (direction)",
           run="vgg19-warmup10k"), "pts"),
]
CLAIMS["fig08"] = [
    _dense("ResNet-20", "lr 0.1", "90.5 ± 0.0%", 90.5, 0.5, "STAB-v3 Fig. 2; LTH-v5 §4", "resnet18"),
    _dense("ResNet-20", "lr 0.01", "89.1 ± 0.1%", 89.1, 0.5, "STAB-v3 Fig. 2", "resnet18-lr0.01"),
    _dense("ResNet-20", "lr 0.03 + 20K warmup", "89.6 ± 0.1%", 89.6, 0.5, "STAB-v3 Fig. 2",
           "resnet18-lr0.03-warmup20k"),
    (Claim("Warmup ticket at Pm 27.1% (final test accuracy)", "90.5%", 90.5, "T", "LTH-v5 §4, Fig. 8",
           lambda f: acc(f["resnet18-lr0.03-warmup20k"], "imp", 27.1, "final_test_acc"),
           lambda v: abs(v - 90.5) <= 0.5, "within ±0.5", run="resnet18-lr0.03-warmup20k"), "%"),
]


def compare(figure: str, frames: dict[str, pd.DataFrame] | pd.DataFrame, smoke: bool = False,
            claims: list[tuple[Claim, str]] | None = None) -> pd.DataFrame:
    """One row per published claim: source, confidence, paper value, ours, difference, holds.

    ``frames``: the figure's summaries keyed by run (preset or preset-variant); a single
    DataFrame for one-run figures. Under ``smoke`` nothing is judged: smoke runs are not results.
    ``claims`` replaces ``CLAIMS[figure]`` (chapters that keep their claims beside their code).
    """
    if isinstance(frames, pd.DataFrame):
        frames = {"": frames}
    rows = []
    for c, unit in (CLAIMS[figure] if claims is None else claims):
        approx = c.tag in APPROXIMATE
        try:
            ours = c.measure(frames)
        except (KeyError, TypeError):  # a run or level this profile does not have
            ours = None
        num = ours[0] if isinstance(ours, tuple) else ours
        diff = "" if (num is None or c.value is None or unit == "range") else f"{num - c.value:+.2f}"
        if smoke:
            holds = "— (smoke run)"
        elif approx or c.check is None:
            holds = "— (approximate)" if approx else "— (shown, not judged)"
        elif ours is None:
            holds = "not measured"
        else:
            holds = ("yes" if c.check(ours) else "no") + f" ({c.rule})"
            late = late_stops(frames, c.speed(frames)) if c.speed else []
            if late:  # the schedule, not the network, bounds this claim (LATE_STOP)
                more = f", and {len(late) - 1} more" if len(late) > 1 else ""
                holds = f"inconclusive at this budget ({late[0]}{more}; early stop in the last 20% of the schedule)"
        rows.append({"Claim": c.quantity, "Source": c.source, "Conf.": c.tag,
                     "Paper": ("≈ " + c.paper.lstrip("≈ ")) if approx else c.paper,
                     "Ours" + (" (smoke)" if smoke else ""): _fmt(ours, unit), "Diff.": diff,
                     "Holds?": holds})
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame) -> str:
    """A plain Markdown table (no extra dependency), stable text for nbval to compare."""
    cols = list(table.columns)
    esc = lambda s: str(s).replace("|", "\\|")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(esc(r[c]) for c in cols) + " |" for _, r in table.iterrows()]
    return "\n".join(lines)


def verdict(table: pd.DataFrame, info: dict) -> str:
    """A short verdict computed from the table (counts of held / failed checks)."""
    h = table["Holds?"]
    if h.str.startswith("— (smoke").all():
        return (f"**Verdict: none.** This page shows a smoke run ({info['profile']} profile, "
                f"{info['iterations']} iterations, seeds {info['seeds']}): it checks that the "
                "pipeline runs end to end. Its numbers are not a reproduction of the paper; the "
                "budget or paper profile produces results.")
    fail = h.str.startswith("no (")  # not "not measured": a claim we could not test is no failure
    yes, no = h.str.startswith("yes").sum(), fail.sum()
    nm = h.str.startswith("not measured").sum()
    inc = h.str.startswith("inconclusive").sum()
    failed = "; ".join(table.Claim[fail])
    cov = f"; {info['coverage']}" if info.get("coverage") else ""
    s = (f"**Verdict ({info['profile']} profile, seeds {info['seeds']}, {info['iterations']:,} "
         f"iterations per level{cov}):** {yes} of {yes + no} checked claims hold")
    s += f"; {inc} inconclusive at this budget (early stop in the last 20% of the schedule)" if inc else ""
    s += f"; {nm} could not be measured in this run" if nm else ""
    s += f". Not reproduced: {failed}." if no else "."
    approx = h.str.startswith("— (approx").sum()
    return s + (f" {approx} approximate claims are shown for reference only." if approx else "")
