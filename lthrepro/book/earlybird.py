"""Reading, tabulating and plotting early-bird results (``earlybird.py``) for the book's pages.

The pass/fail rules below were fixed before any budget number was seen. Only claims tagged T
or C in ``shared/reference/followup-numbers.md`` §3 are judged; S and ≈ ones are shown.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from lthrepro.experiments import earlybird as eb
from lthrepro.experiments.earlybird_tickets import SPECS, make_spec
from lthrepro.store import results as res
from lthrepro.core.config import run_name
from lthrepro.core.presets import make_config
from lthrepro.core.userargs import check_parameters
from lthrepro.book.claims import Claim

TICKET_LABEL = {"eb-reset": "early-bird, reset to θ0", "eb_rel-reset": "early-bird (ε × max), reset to θ0",
                "end-reset": "end of training, reset to θ0", "eb-continue": "early-bird, continued from the draw",
                "imp": "IMP ticket (LTH LeNet run, same profile)"}


def obtain(preset: str, PROFILE: str, SEEDS, DEVICE: str = "cpu", RESULTS_DIR=None, OVERRIDES=None,
           EPS: float = 0.1, KEEP: int = 5) -> Path:
    """The results folder for a notebook's parameters: read if complete, else trained (or
    ``NoTrainError`` under LTHREPRO_NO_TRAIN=1). Bad parameters: one-line ``ConfigError``."""
    check_parameters(PROFILE, SEEDS, DEVICE, RESULTS_DIR, OVERRIDES)
    spec = make_spec(preset, EPS, KEEP)
    return eb.run(preset, PROFILE, DEVICE, RESULTS_DIR, SEEDS, spec, **(OVERRIDES or {}))


def load(d: Path) -> dict:
    """Everything a page shows: summary rows, the search runs (curves, distances, draws), info."""
    d = Path(d)
    c = res.read_json(d / "config.json")
    search = {int(p.parent.name[1:]): res.read_json(p) for p in sorted(d.glob("search/s*/metrics.json"))}
    sessions = res.read_json(d / "provenance.json")["sessions"] if (d / "provenance.json").exists() else []
    info = {"name": d.name, "profile": c["config"]["profile"], "seeds": sorted(search),
            "iterations": c["config"]["iterations"], "eval_every": c["config"]["eval_every"],
            "device": "; ".join(sorted({s["device"] for s in sessions})) or "not recorded",
            "date": sessions[-1]["date"] if sessions else "no provenance.json yet",
            "commit": "; ".join(sorted({s["git_commit"] for s in sessions})) or "unknown",
            "wall": f"{sum(s['wall_seconds'] for s in sessions) / 60:.1f} min" if sessions else "unknown",
            "test_note": c["data"]["test_note"], "n_test": c["data"]["n_test"], "config": c["config"]}
    df = pd.DataFrame(eb.summary_rows(d), columns=eb.SUMMARY)
    df["run"] = df.ticket + "-" + df.variant
    return {"summary": df, "search": search, "spec": c["spec"], "info": info, "model": c["config"]["model"]}


def imp_tickets(levels, seeds, profile: str, root=None) -> pd.DataFrame:
    """IMP tickets of the same density from the LTH LeNet run of the same profile (read only;
    for ``budget`` that is ``results/lenet-19262789``): test accuracy per level and seed, and the
    training cost of IMP up to that level (a full training per level, each at its density)."""
    cols = ["seed", "target", "run", "density", "cost_ratio", "early_stop_test_acc", "final_test_acc", "source"]
    d = res.resolve_root(root) / run_name(make_config("lenet", profile, seeds=tuple(seeds)))
    if not (d / "config.json").exists():
        return pd.DataFrame([], columns=cols)
    df = summaries.load_summary(d)
    imp, rows = df[df.kind == "imp"], []
    for s in seeds:
        sub = imp[imp.seed == s].set_index("level").sort_index()
        for lv in levels:
            if all(k in sub.index for k in range(lv + 1)):
                rows.append({"seed": s, "target": lv, "run": "imp", "density": sub.density[lv],
                             "cost_ratio": float(sub.density.loc[:lv].sum()),
                             "early_stop_test_acc": sub.early_stop_test_acc[lv],
                             "final_test_acc": sub.final_test_acc[lv], "source": d.name})
    return pd.DataFrame(rows, columns=cols)


def draws(r: dict) -> pd.DataFrame:
    """Draw points per target and seed: iteration (and epoch), share of training, both ε readings."""
    rows, info = [], r["info"]
    for s, m in r["search"].items():
        for lab, t in m["targets"].items():
            for how, it in t["draw_iter"].items():
                rows.append({"seed": s, "target": t["target"], "label": lab, "rule": how,
                             "pruned": t["pruned_fraction"], "max_distance": t["max_distance"],
                             "draw_iter": it, "draw_epoch": None if it is None else it // info["eval_every"],
                             "share": None if it is None else 100.0 * it / info["iterations"]})
    return pd.DataFrame(rows)


def _target_name(model: str, t, pruned: float) -> str:
    return f"Pm {100 * (1 - pruned):.1f}%" if model == "lenet" else f"p = {round(100 * t)}% of channels"


def _draw_cell(g: pd.DataFrame, rule: str, key: str) -> str:
    sub = g[g.rule == rule].sort_values("seed")
    return ", ".join("never" if pd.isna(v) else f"{int(v):,} ({sh:.0f}%)"
                     for v, sh in zip(sub[key], sub.share.fillna(0))) + f" (seeds {list(sub.seed)})"


def draw_table(r: dict) -> str:
    """Markdown: per target, pruned fraction, max distance, draw iteration per seed for both rules."""
    dr = draws(r)
    unit = "iteration" if r["model"] == "lenet" else "epoch"
    key = "draw_iter" if unit == "iteration" else "draw_epoch"
    lines = [f"| Target | pruned fraction p | max distance 2·min(p, 1−p) | draw {unit} (share of training), "
             f"paper's ε = {r['spec']['eps']:g} | draw {unit}, ε × max distance |", "|---|---|---|---|---|"]
    for _, g in dr.groupby("label", sort=True):
        first = g.iloc[0]
        lines.append(f"| {_target_name(r['model'], first.target, first.pruned)} | {first.pruned:.3f} | "
                     f"{first.max_distance:.3f} | {_draw_cell(g, 'eb', key)} | {_draw_cell(g, 'eb_rel', key)} |")
    return "\n".join(lines)


def accuracy_table(r: dict, imp: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per target and ticket: mean (min–max) early-stop and final test accuracy, training cost."""
    df = r["summary"]
    parts = [df[df.ticket != "dense"][["seed", "target", "run", "density", "cost_ratio",
                                       "early_stop_test_acc", "final_test_acc"]]]
    if imp is not None and len(imp):
        parts.append(imp.drop(columns="source"))
    x = pd.concat(parts)
    x["target"] = x.target.astype(float)
    g = x.groupby(["target", "run"]).agg(
        n=("seed", "size"), pm=("density", "mean"), cost=("cost_ratio", "mean"),
        es=("early_stop_test_acc", "mean"), es_min=("early_stop_test_acc", "min"),
        es_max=("early_stop_test_acc", "max"), fin=("final_test_acc", "mean")).reset_index()
    return g


def accuracy_markdown(g: pd.DataFrame, dense: pd.DataFrame, model: str = "lenet") -> str:
    lines = ["| Target | Ticket | remaining | trials | test acc. at early stop (min–max) | final test acc. | "
             "training cost (× full dense protocol) |", "|---|---|---|---|---|---|---|"]
    for _, row in g.iterrows():
        name = f"Pm {100 * row.pm:.1f}%" if row.run == "imp" or model == "lenet" else f"p = {100 * row.target:.0f}%"
        lines.append(f"| {name} | {TICKET_LABEL.get(row.run, row.run)} | {100 * row.pm:.1f}% | {row.n} | "
                     f"{100 * row.es:.2f}% ({100 * row.es_min:.2f}–{100 * row.es_max:.2f}) | {100 * row.fin:.2f}% | "
                     f"{row.cost:.2f}× |")
    lines.append(f"| — | dense network (search run) | 100% | {len(dense)} | "
                 f"{100 * dense.early_stop_test_acc.mean():.2f}% | {100 * dense.final_test_acc.mean():.2f}% | 1.00× |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- claims
def _acc(g: pd.DataFrame, t, run: str) -> float | None:
    v = g[(g.target == float(t)) & (g.run == run)].es
    return None if v.empty else 100.0 * float(v.mean())


def _cost(g: pd.DataFrame, t, run: str) -> float | None:
    v = g[(g.target == float(t)) & (g.run == run)].cost
    return None if v.empty else float(v.mean())


def _share(dr: pd.DataFrame, t) -> float | None:
    v = dr[(dr.target == t) & (dr.rule == "eb")].share
    return None if v.empty or v.isna().any() else float(v.mean())


YOU = "You et al. 2020, abstract"
COMPARABLE = {"lenet": 0.5, "vgg16-eb": 1.0}  # points; fixed before any budget run (see claims)


def claims(preset: str) -> list[tuple[Claim, str]]:
    """Paper-vs-ours rows. "Comparable accuracy" is read as: the early-bird ticket's mean test
    accuracy at early stop is at most ``COMPARABLE`` points below the end-of-training ticket's
    (LeNet: 0.5, more than twice the ±0.2 spread STAB-v3 reports for LeNet; VGG-16: 1.0, the binomial
    standard error of ~0.8 points on 1,017 test images)."""
    tol = COMPARABLE[preset]
    spec = SPECS[preset]
    out: list[tuple[Claim, str]] = []
    for t in spec["targets"]:
        name = {3: "Pm 51.3%", 7: "Pm 21.1%", 12: "Pm 7.0%"}.get(t, f"level {t}") if preset == "lenet" \
            else f"p = {round(100 * t)}%"
        eb_run = "eb-reset" if preset == "lenet" else "eb-continue"
        out += [
            (Claim(f"{name}: draw point of the EB ticket (share of training)", "first ~10–20 of 160 epochs "
                   "(6.25–12.5%)", None, "S", "followup-numbers §3 (paraphrase)",
                   lambda f, t=t: _share(f["draws"], t)), "%"),
            (Claim(f"{name}: EB ticket accuracy comparable to the end-of-training ticket (EB − end, "
                   "test acc. at early stop)", "comparable or even better", None, "T", YOU,
                   lambda f, t=t, e=eb_run: _acc(f["acc"], t, e) - _acc(f["acc"], t, "end-reset"),
                   lambda v: v >= -tol, f"≥ −{tol:g} pts"), "pts"),
            (Claim(f"{name}: training cost saved by the EB ticket (end-of-training pipeline ÷ EB pipeline, FLOPs)",
                   "up to 4.7× (energy, not FLOPs)", None, "T", YOU,
                   lambda f, t=t, e=eb_run: _cost(f["acc"], t, "end-reset") / _cost(f["acc"], t, e),
                   lambda v: v > 1, "> 1× (direction)"), "×"),
        ]
    if preset == "vgg16-eb":
        out.append((Claim("Authors' script: VGG-16 on CIFAR-100, p = 30%, EB epoch (different data set)",
                          "epoch 35", 35.0, "C", "retrain_continue.sh", lambda f: None), "×"))
    return out


def frames(r: dict, imp: pd.DataFrame | None) -> dict:
    """What the claims measure: per-ticket accuracies and costs, and the draw points."""
    return {"acc": accuracy_table(r, imp), "draws": draws(r)}


# ------------------------------------------------------------------------------- figure
def figure(r: dict, imp: pd.DataFrame | None = None, seed: int | None = None) -> plt.Figure:
    """One panel per target: the pairwise mask-distance matrix of one seed's search run (the
    paper's signature figure) with both draw points; last panel: test accuracy of the tickets."""
    sns.set_theme(style="white", context="notebook")
    seed = min(r["search"]) if seed is None else seed
    m, info = r["search"][seed], r["info"]
    labs = list(m["targets"])
    fig, axes = plt.subplots(1, len(labs) + 1, figsize=(4.6 * (len(labs) + 1), 4.3))
    unit = info["eval_every"] if r["model"] != "lenet" else 1
    its = [i // unit for i in m["iterations"]]
    for ax, lab in zip(axes, labs):
        t = m["targets"][lab]
        h = (its[-1] - its[0]) / max(1, len(its) - 1) / 2  # one cell per recorded mask, centred
        im = ax.imshow(t["distance"], origin="lower", cmap="viridis", vmin=0, vmax=t["max_distance"],
                       extent=(its[0] - h, its[-1] + h, its[0] - h, its[-1] + h))
        for how, mk, col in (("eb", "x", "red"), ("eb_rel", "o", "white")):
            it = t["draw_iter"][how]
            if it is not None:
                ax.plot([it // unit], [it // unit], mk, color=col, ms=9, mfc="none", mew=2,
                        label=f"draw ({'ε' if how == 'eb' else 'ε × max'}): {it // unit:,}")
        ax.set_title(f"{_target_name(r['model'], t['target'], t['pruned_fraction'])}\n"
                     f"colour scale 0 … max {t['max_distance']:.2f}", fontsize=9)
        ax.set_xlabel("iteration" if unit == 1 else "epoch")
        ax.set_ylabel("iteration" if unit == 1 else "epoch")
        ax.legend(fontsize=7, loc="upper left")
        fig.colorbar(im, ax=ax, fraction=0.046)
    g = accuracy_table(r, imp)
    ax = axes[-1]
    runs = list(dict.fromkeys(g.run))
    for k, run in enumerate(runs):
        sub = g[g.run == run]
        xs = [labs.index(next(lb for lb in labs if m["targets"][lb]["target"] == t)) + 0.15 * (k - len(runs) / 2)
              for t in sub.target]
        ax.errorbar(xs, 100 * sub.es, yerr=[100 * (sub.es - sub.es_min), 100 * (sub.es_max - sub.es)],
                    fmt="o", capsize=3, label=TICKET_LABEL.get(run, run))
    d = r["summary"][r["summary"].ticket == "dense"].early_stop_test_acc
    ax.axhline(100 * d.mean(), color="grey", ls="--", lw=1, label="dense")
    ax.set_xticks(range(len(labs)))
    ax.set_xticklabels([_target_name(r["model"], m["targets"][lb]["target"], m["targets"][lb]["pruned_fraction"])
                        for lb in labs], fontsize=8)
    ax.set_ylabel("test accuracy at early stop (%)")
    ax.legend(fontsize=7)
    fig.suptitle(f"Mask distance during the dense run (seed {seed}) and ticket accuracy "
                 f"({info['profile']} profile)", fontsize=11)
    fig.tight_layout()
    return fig


def caption(info: dict) -> str:
    return (f"{info['profile']} profile, seeds {info['seeds']}, {info['iterations']:,} iterations, "
            f"{info['device']}, {info['date']}, commit {info['commit']}, wall time {info['wall']}; "
            f"{info['test_note']} ({info['n_test']:,} used)")


def banner(info: dict, gpu_pending: bool = False) -> str:
    if info["profile"] != "smoke":
        return ""
    body = (f"This page shows a <b>smoke run</b> ({info['iterations']:,} iterations, "
            f"{info['config']['train_limit'] or 'all'} training examples, seeds {info['seeds']}): it checks "
            "that the pipeline runs. It is <b>not a result</b> and its numbers say nothing about the paper's claims.")
    if gpu_pending:
        body += " Real results for this page are <b>pending a GPU run</b> (no GPU was available when it was built)."
    return ('<div class="admonition warning"><p class="admonition-title">Smoke run, not a result'
            f"</p><p>{body}</p></div>")
