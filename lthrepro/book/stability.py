"""The stability chapter's reads, published claims and figures (stability.py runs the experiments).

Claims come from ``shared/reference/followup-numbers.md`` §1-2 with their tags. Only T and C are
judged, with the rules below, written before any budget numbers existed; S, S(q) and ≈ are shown.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from lthrepro.book import claims, measures
from lthrepro.core import config, presets
from lthrepro.experiments import stability
from lthrepro.store import results as res
from lthrepro.store import summaries

MATCH, STABLE = 0.2, 2.0  # LMC §4.4: within 0.2 points of dense; LMC §2: instability < 2%
KIND_LABEL = {"dense": "dense network", "dense_continue": "dense, optimizer state continued (side result)",
              "imp": "IMP subnetwork", "random": "random pruning", "reinit": "random reinit"}


def obtain(preset: str, profile: str, seeds=None, device: str = "cpu", root=None, **over):
    """(results folder, config, spec) of a stability run; trains what is missing unless
    LTHREPRO_NO_TRAIN=1 (then ``lottery.NoTrainError``)."""
    cfg, spec = stability.make(preset, profile, seeds, **over)
    e = stability.Experiment(cfg, spec, device, res.resolve_root(root))
    return (e.run() if e.todo() else e.dir), cfg, spec


def pairs(run_dir: Path, spec) -> pd.DataFrame:
    """One row per pair (the spec's grids only), instabilities and accuracies in percent."""
    df = pd.DataFrame(stability.collect(run_dir))
    want = set(stability.pair_keys(spec))
    df = df[[(r.kind, r.seed, r.k, r.level) in want for r in df.itertuples()]].copy()
    for c in ("test_instability", "train_instability", "test_acc_0", "test_acc_1", "density"):
        df[c] = 100 * df[c]
    df["test_acc"] = (df.test_acc_0 + df.test_acc_1) / 2
    return df.reset_index(drop=True)


def paths(run_dir: Path, keys: list[tuple[str, int, int]]) -> pd.DataFrame:
    """Long frame of the error along the path (percent) for (kind, k, level) keys, every seed."""
    rows = []
    for kind, k, lv in keys:
        for mj in sorted(Path(run_dir).glob(f"pairs/{kind}/s*/k{k:06d}/level{lv:02d}/metrics.json")):
            m = res.read_json(mj)
            rows += [{"kind": kind, "k": k, "level": lv, "seed": m["seed"], "density": 100 * m["density"],
                      "alpha": a, "test_err": 100 * te, "train_err": 100 * tr}
                     for a, te, tr in zip(m["alpha"], m["test_err"], m["train_err"], strict=True)]
    return pd.DataFrame(rows)


def barriers(run_dir: Path, spec, n_test: int) -> pd.DataFrame:
    """Per pair of the spec: test instability in test images; is the path's largest test error at an
    endpoint (then no barrier at all: the instability is half the gap between the copies' errors)?"""
    want, rows = set(stability.pair_keys(spec)), []
    for mj in sorted(Path(run_dir).glob("pairs/*/s*/k*/level*/metrics.json")):
        m = res.read_json(mj)
        if (m["kind"], m["seed"], m["k"], m["level"]) in want:
            e = m["test_err"]
            rows.append({"kind": m["kind"], "seed": m["seed"], "k": m["k"], "level": m["level"],
                         "images": round(m["test_instability"] * n_test, 2),
                         "at_endpoint": max(e) <= max(e[0], e[-1])})
    return pd.DataFrame(rows)


def resolution(b: pd.DataFrame, n_test: int) -> str:
    """What the test instabilities resolve (issue 22): pairs with no barrier, or under 2 images."""
    one = 100 / n_test
    s = (f"**Resolution.** One test image is {one:.2g} points of error ({n_test:,} test images); the endpoints' "
         "mean moves in half-image steps. ")
    if b.empty:
        return s
    flat, small = b[b.at_endpoint], b[~b.at_endpoint & (b.images < 2)]
    def per_kind(sub):  # "dense 11 of 12, ..." in the order of the pairs' kinds
        return ", ".join(f"{k.replace('_', ' ')} {int((sub.kind == k).sum())} of {int((b.kind == k).sum())}"
                         for k in stability.KINDS if (b.kind == k).any())
    s += (f"{len(flat)} of {len(b)} pairs have their largest test error at an endpoint: *no barrier at all* (their "
          "instability is half the gap between the copies, not a bump on the path)"
          + (f" ({per_kind(flat)})" if len(flat) else "") + ". ")
    s += (f"{len(small)} more are under two test images ({2 * one:.2g} pts), *at the resolution*"
          + (f" ({per_kind(small)})" if len(small) else "") + ".")
    return s


def optimizer_side_result(df: pd.DataFrame) -> pd.DataFrame:
    """Side result (issue 22), shown, not judged: dense pairs with a fresh optimizer at k (every pair's
    protocol, open_lth's) beside pairs continuing the parent's optimizer state, per seed. ``df``: ``pairs``."""
    both = df[df.kind.isin(("dense", "dense_continue"))]
    both = both[both.k.isin(set(both[both.kind == "dense_continue"].k))]
    if both.empty:
        return pd.DataFrame()
    t = both.pivot_table(index=["k", "seed"], columns="kind", values=["test_instability", "test_acc"])
    out = pd.DataFrame({"k": [k for k, _ in t.index], "seed": [s for _, s in t.index]})
    for col, lab in (("test_instability", "test instability (pts)"), ("test_acc", "test acc. (%)")):
        for kind, who in (("dense", "fresh optimizer"), ("dense_continue", "optimizer state continued")):
            out[f"{who}: {lab}"] = t[(col, kind)].round(3).to_numpy()
    return out


def chains(run_dir: Path, cfg, spec) -> pd.DataFrame:
    """IMP-with-rewinding chains (final test accuracy per level) with a column k."""
    import dataclasses

    from lthrepro.core.config import run_name
    out = []
    for k in spec.chain_ks:
        c = dataclasses.replace(cfg, rewind=k)
        d = Path(run_dir) / "chains" / run_name(c)
        if d.exists():
            df = summaries.load_summary(d)
            out.append(df[df.seed.isin(spec.seeds)].assign(k=k))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def info(run_dir: Path) -> dict:
    c = res.read_json(Path(run_dir) / "config.json")
    prov = Path(run_dir) / "provenance.json"
    ss = res.read_json(prov)["sessions"] if prov.exists() else []
    return {"name": Path(run_dir).name, "profile": c["config"]["profile"], "seeds": c["spec"]["seeds"],
            "iterations": c["config"]["iterations"], "levels": max(c["spec"]["levels"]),
            "config": c["config"], "spec": c["spec"], "test_note": c["data"]["test_note"],
            "n_test": c["data"]["n_test"], "device": "; ".join(sorted({s["device"] for s in ss})) or "unknown",
            "date": _sessions(ss), "wall": f"{sum(s['wall_seconds'] for s in ss) / 60:.1f} min"}


def _sessions(ss: list[dict]) -> str:
    """When and from which commit the folder was trained; a folder extended in several sessions
    names each, and says so when they ran under different numerics (another CPU kind)."""
    if not ss:
        return "unknown"
    if len(ss) == 1:
        return f"{ss[0]['date']}, commit {ss[0].get('git_commit', '?')}"
    fps = {(s.get("numerics") or {}).get("fingerprint") for s in ss} - {None}
    return (f"trained in {len(ss)} sessions (" + "; ".join(f"{s['date']}, commit {s.get('git_commit', '?')}"
                                                          for s in ss) + ")"
            + (f" under {len(fps)} numerics fingerprints (CPU kinds; see provenance.json)" if len(fps) > 1 else ""))


def caption(i: dict) -> str:
    s = i["spec"]
    return (f"{i['profile']} profile, seeds {i['seeds']}, {i['iterations']:,} iterations, dense k ∈ {s['ks']}, "
            f"sparse k ∈ {s['chain_ks']}, IMP levels {s['levels']}, "
            + (f"side-result dense pairs continuing the optimizer state at k ∈ {s['continue_ks']}, "
               if s.get("continue_ks") else "")
            + f"{s['alphas']} points per path, train error "
            f"on {s['train_subset']:,} training examples, {i['device']}, {i['date']}; {i['test_note']} "
            f"({i['n_test']:,} used)")


# ------------------------------------------------------------------------------ figures
def _xk(ax, ks) -> None:
    ax.set_xscale("symlog", linthresh=max(1, min([k for k in ks if k] or [1])))
    ax.set_xticks(sorted(set(ks)))
    ax.set_xticklabels([f"{k:,}" for k in sorted(set(ks))], rotation=45)
    ax.minorticks_off()
    ax.set_xlabel("Rewind iteration k")


def instability_vs_k(df: pd.DataFrame, title: str = "") -> plt.Figure:
    """LMC Figs. 3 and 5: test and train instability vs k, one line per (kind, density)."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, col in zip(axes, ("test_instability", "train_instability"), strict=True):
        for (kind, lv), sub in df.groupby(["kind", "level"]):
            g = sub.groupby("k")[col]
            m, lo, hi = g.mean(), g.min(), g.max()
            ax.errorbar(m.index, m.values, yerr=[m - lo, hi - m], marker="o", ms=4, capsize=2.5,
                        ls="-" if kind in ("dense", "imp") else "--",
                        label=f"{KIND_LABEL[kind]}" + (f", Pm {sub.density.mean():.1f}%" if lv else ""))
        ax.axhline(STABLE, color="grey", lw=1, ls=":")
        _xk(ax, df.k)
        ax.set_ylabel(("Test" if col.startswith("test") else "Train") + " instability (%)")
    axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def path_panels(p: pd.DataFrame, title: str = "") -> plt.Figure:
    """LMC Fig. 2: error along the linear path for a few k (one panel per kind/level)."""
    sns.set_theme(style="whitegrid", context="notebook")
    groups = list(p.groupby(["kind", "level"]))
    fig, axes = plt.subplots(1, len(groups), figsize=(4.6 * len(groups), 4), squeeze=False)
    for ax, ((kind, lv), sub) in zip(axes[0], groups, strict=True):
        for k, sk in sub.groupby("k"):
            g = sk.groupby("alpha")
            ax.plot(g.test_err.mean().index, g.test_err.mean().values, marker=".", label=f"k = {k:,} (test)")
            ax.plot(g.train_err.mean().index, g.train_err.mean().values, ls="--", lw=1, label=f"k = {k:,} (train)")
        ax.set_title(KIND_LABEL[kind] + (f", Pm {sub.density.mean():.1f}%" if lv else ""), fontsize=10)
        ax.set_xlabel("Interpolation α")
        ax.set_ylabel("Error (%)")
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def rewinding_panel(ch: pd.DataFrame, pr: pd.DataFrame, title: str = "") -> plt.Figure:
    """STAB Figs. 4-5: final test accuracy vs density, one line per rewind point k (IMP
    chains), markers for the pairs' random-pruning and reinit copies at the same k."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, ax = plt.subplots(figsize=(6.5, 4.4))
    for i, (k, sub) in enumerate(ch.groupby("k")):
        a = sub[sub.kind == "imp"].groupby("level").agg(pm=("pm", "mean"), acc=("final_test_acc", "mean"))
        ax.plot(a.pm, 100 * a.acc, marker="o", ms=3.5, color=f"C{i}", label=f"IMP, rewind to k = {k:,}")
        for kind, mk in (("random", "x"), ("reinit", "s")):
            c = pr[(pr.kind == kind) & (pr.k == k)].groupby("level").agg(
                pm=("density", "mean"), acc=("test_acc", "mean"))
            if len(c):
                ax.scatter(c.pm, c.acc, marker=mk, color=f"C{i}", label=f"{KIND_LABEL[kind]}, k = {k:,}")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("Percent of weights remaining")
    ax.set_ylabel("Test accuracy at end of training (%)")
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------- claims
def _at(df, kind, k, level=None, col="test_instability"):
    sub = df[(df.kind == kind) & (df.k == k)]
    if level is not None:
        sub = sub[sub.level == (level if level >= 0 else sub.level.max())]
    return float(sub[col].mean()) if len(sub) else None


def _deepest(f) -> int:
    return int(f["pairs"].level.max())


def _first_stable(df, kind, level=None):
    sub = df[df.kind == kind] if level is None else df[(df.kind == kind) & (df.level == level)]
    ok = sub.groupby("k").test_instability.mean()
    ok = ok[ok < STABLE]
    return float(ok.index.min()) if len(ok) else None


def _l2_ratio(f) -> float | None:
    """random / IMP L2 distance between copies at k = 0: the smaller over the two sparsest levels."""
    p = f["pairs"]
    lvs = sorted(p[p.kind == "imp"].level.unique())
    r = [(_at(p, "random", 0, lv, "l2_weights"), _at(p, "imp", 0, lv, "l2_weights")) for lv in lvs[-2:]]
    return None if not r or any(a is None or b is None for a, b in r) else min(a / b for a, b in r)


def _gap(f, kind, k, level):
    """Test accuracy (mean of the copies) − dense test accuracy at the same k, points."""
    a, d = _at(f["pairs"], kind, k, level, "test_acc"), _at(f["pairs"], "dense", k, 0, "test_acc")
    return None if a is None or d is None else a - d


def _chain_acc(f, k, pm):
    ch = f["chains"]
    if ch.empty:
        return None
    sub = ch[(ch.kind == "imp") & (ch.k == k)]
    lv = measures.level_at(sub, pm, tol=0.3)
    return None if lv is None else 100 * float(sub[sub.level == lv].final_test_acc.mean())


def _lth(f, kind, pm):
    """From the LTH run of the same profile (k = 0 controls), when its results are on disk."""
    df = f.get("lth")
    return None if df is None else claims.acc(df, kind, pm, "final_test_acc")


def _lth_gap(f, pm):
    """IMP − random pruning at ``pm`` in the LTH run (final test accuracy, points)."""
    imp, rnd = _lth(f, "imp", pm), _lth(f, "random", pm)
    return None if imp is None or rnd is None else imp - rnd


def lth_frame(run: Path, profile: str):
    """The LTH run of the same profile beside ``run`` (rewinding to k = 0 is the LTH protocol
    itself, same schedule): its random-pruning control gives Stabilizing's Fig. 3 comparison at
    Pm 10.7%, which the stability pairs (Pm 21.1% and 3.6%) do not cover. None for the smoke
    profile (whether a smoke LTH run exists depends on what ran before) or when not on disk."""
    if profile == "smoke":
        return None
    d = Path(run).parent / config.run_name(presets.make_config("lenet", profile))
    return summaries.load_summary(d) if (d / "summary.csv").exists() else None


Claim, LMC, STAB = claims.Claim, "LMC", "STAB-v3"
claims.CLAIMS["stab_lenet_instability"] = [
    (Claim("Dense LeNet is stable at k = 0 (test instability, pts)", "< 2% (stable from init)", None, "S",
           f"{LMC} §3", lambda f: _at(f["pairs"], "dense", 0, 0)), "%"),
    (Claim("IMP subnetwork at k = 0, sparsest level: test instability", "stable (< 2%)", None, "S",
           f"{LMC} §4", lambda f: _at(f["pairs"], "imp", 0, _deepest(f))), "%"),
    (Claim("Random pruning at k = 0, sparsest level: test instability", "LeNet excepted from 'unstable'",
           None, "S", f"{LMC} §4", lambda f: _at(f["pairs"], "random", 0, _deepest(f))), "%"),
    (Claim("Random reinit at k = 0, sparsest level: test instability", "LeNet excepted from 'unstable'",
           None, "S", f"{LMC} §4", lambda f: _at(f["pairs"], "reinit", 0, _deepest(f))), "%"),
    (Claim("IMP subnetworks of LeNet are matching at k = 0 (sparsest level − dense, pts)", "≥ −0.2",
           None, "S(q)", f"{LMC} §4", lambda f: _gap(f, "imp", 0, _deepest(f))), "pts"),
    (Claim("IMP more stable than random pruning at k = 0: L2(random)/L2(IMP) between the copies, "
           "smaller of the two sparsest levels (paper: Pm 10.7%, between ours)", "2.8×", 2.8, "T", f"{STAB} Fig. 3, §2",
           _l2_ratio, lambda v: v > 1, "> 1 at both (direction)"), "×"),
]
claims.CLAIMS["stab_lenet_paths"] = [
    (Claim("Dense LeNet at k = 0: no error barrier on the path (test instability)", "< 2%", None, "S",
           f"{LMC} §3, Fig. 2", lambda f: _at(f["pairs"], "dense", 0, 0)), "%"),
    (Claim("IMP subnetwork at k = 0, sparsest level: barrier", "< 2%", None, "S", f"{LMC} §4",
           lambda f: _at(f["pairs"], "imp", 0, _deepest(f))), "%"),
]
claims.CLAIMS["stab_lenet_rewinding"] = [
    (Claim("LeNet: a winning ticket at k = 0 (IMP at Pm 10.7% − dense, final test acc.)", "found", None, "T",
           f"{STAB} Fig. 2", lambda f: None if _chain_acc(f, 0, 10.7) is None else
           _chain_acc(f, 0, 10.7) - _chain_acc(f, 0, 100.0), lambda v: v >= -MATCH, f"≥ −{MATCH} (matching)"), "pts"),
    (Claim("k = 0, Pm 10.7%: IMP vs random pruning (final test acc., IMP − random; both from the LTH run of "
           "this profile, its trials)", "98.3 vs 97.5", 0.8, "T", f"{STAB} Fig. 3",
           lambda f: _lth_gap(f, 10.7), lambda v: v > 0, "> 0 (direction)"), "pts"),
]
for _net, _dense_k, _imp_k in (("resnet20", "2000", "500"), ("vgg16", "1000", "1000")):
    claims.CLAIMS[f"stab_{_net}"] = [
        (Claim(f"Dense {_net}: first k with test instability < 2%", f"iteration {_dense_k}", float(_dense_k),
               "S", f"{LMC} §3", lambda f: _first_stable(f["pairs"], "dense")), " it"),
        (Claim(f"IMP subnetwork ({_net}, sparsest level): first k with instability < 2%", f"iteration {_imp_k}",
               float(_imp_k), "S", f"{LMC} §4", lambda f: _first_stable(f["pairs"], "imp")), " it"),
        (Claim("IMP at k = 0 is not matching (sparsest level − dense, pts)", "not matching", None, "S(q)",
               f"{LMC} §4", lambda f: _gap(f, "imp", 0, _deepest(f))), "pts"),
    ]


def verdict(table: pd.DataFrame, i: dict) -> str:
    h = table["Holds?"]
    if i["profile"] == "smoke":
        return claims.verdict(table, i)
    judged = h.str.startswith(("yes", "no (", "not measured"))
    if not judged.any():
        return (f"**Verdict ({i['profile']} profile, seeds {i['seeds']}):** nothing on this page is judged: "
                "its published values are secondary (S) or read off plots; ours are shown beside them.")
    s = claims.verdict(table[judged].reset_index(drop=True), i)
    from lthrepro.core.presets import make_config
    ratio = table.Claim.str.contains("L2").any()
    if ratio and i["iterations"] < make_config(i["config"]["preset"], "paper").iterations:
        s += (" This profile trains fewer iterations than the paper, so the copies have less time to "
              "separate: a ratio near 1 is *inconclusive at this budget*.")
    return s
