"""Figures in the style of LTH v5: x axis = percent of weights remaining (log scale, dense on
the left), mean over trials with error bars = min and max of any trial (LTH §1), solid lines
for winning tickets, dashed for controls (random reinit, random sparse), dotted for one-shot.
"""

from __future__ import annotations

import html
import math

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from lthrepro.core.presets import FIG3_PM
from lthrepro.store.summaries import aggregate

KIND_LABEL = {"imp": "winning ticket (iterative)", "reinit": "random reinit",
              "random": "random sparse", "oneshot": "one-shot"}
KIND_STYLE = {"imp": "-", "reinit": "--", "random": "--", "oneshot": ":"}
METRIC_LABEL = {"early_stop_iter": "Early-stop iteration",
                "early_stop_test_acc": "Test accuracy at early stop (%)",
                "final_test_acc": "Test accuracy at end of training (%)",
                "final_train_acc": "Train accuracy at end of training (%)"}


def caption(info: dict | list[dict]) -> str:
    """Who produced a figure: profile, seeds, iterations, device, date (from provenance.json)."""
    infos = info if isinstance(info, list) else [info]
    i = infos[0]
    dev = "; ".join(sorted({x["device"] for x in infos}))
    dates = sorted({x["date"] for x in infos})
    s = (f"{i['profile']} profile, seeds {i['seeds']}, {i['iterations']:,} iterations per level, "
         f"{dev}, {dates[-1]}")
    used = sorted({x["n_test"] for x in infos})  # smoke runs use a prefix of the test set
    return s + f"; {i['test_note']} ({'/'.join(f'{n:,}' for n in used)} of them used)"


def grid(n: int, legend_cell: bool = False) -> tuple[plt.Figure, list]:
    """Axes readable at a normal zoom in the book (content ~800 px wide): one panel per row for
    one or two panels, a 2×2 grid for three or four. With ``legend_cell`` and an odd count the
    spare grid cell holds the legend. Returns the figure and the ``n`` axes in reading order."""
    cols = 1 if n <= 2 else 2
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(8.0 if cols == 1 else 10.0, 3.9 * rows + 0.5),
                             squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.axis("off")
    return fig, flat[:n] + ([flat[n]] if legend_cell and len(flat) > n else [])


def _legend(axes: list, n: int, fontsize: int = 9) -> None:
    """The first panel's legend, in the spare grid cell when there is one."""
    h, labels = axes[0].get_legend_handles_labels()
    if len(axes) > n:
        axes[n].legend(h, labels, fontsize=fontsize, loc="center", frameon=False)
    else:
        axes[0].legend(fontsize=fontsize - 1, loc="best")


def density_panels(frames: dict[str, pd.DataFrame], metrics: list[str], kinds: list[str],
                   title: str = "") -> plt.Figure:
    """One panel per metric against percent of weights remaining; one colour per run
    (frames key), one line style per kind. Legends name the densities via the x ticks."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = grid(len(metrics), legend_cell=True)
    colors = sns.color_palette("tab10", n_colors=max(1, len(frames)) * len(kinds))
    for ax, metric in zip(axes, metrics):
        ci = 0
        pms: set[float] = set()
        for name, df in frames.items():
            for kind in kinds:
                sub = df[df.kind == kind]
                if kind != "imp":  # controls share level 0 with the trial (the dense network)
                    sub = pd.concat([df[(df.kind == "imp") & (df.level == 0)].assign(kind=kind), sub])
                if sub.empty:
                    continue
                a = aggregate(sub, metric)
                scale = 1.0 if metric == "early_stop_iter" else 100.0
                y, lo, hi = a["mean"] * scale, a["min"] * scale, a["max"] * scale
                label = f"{name + ': ' if name else ''}{KIND_LABEL[kind]}"
                ax.errorbar(a.pm, y, yerr=[y - lo, hi - y], ls=KIND_STYLE[kind], marker="o", ms=3.5,
                            capsize=2.5, color=colors[ci % len(colors)], label=label)
                pms.update(round(p, 1) for p in a.pm)
                ci += 1
        ax.set_xscale("log")
        ax.invert_xaxis()  # dense (100%) on the left, as the paper's plots
        ticks = sorted(pms, reverse=True)[:: max(1, len(pms) // 8)]
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{t:g}" for t in ticks], rotation=45)
        ax.minorticks_off()
        ax.set_xlabel("Percent of weights remaining")
        ax.set_ylabel(METRIC_LABEL.get(metric, metric))
    _legend(axes, len(metrics))
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def curve_panels(curves: pd.DataFrame, panels: list[tuple[str, str, list[int]]],
                 title: str = "") -> plt.Figure:
    """Test accuracy over training iterations (LTH Fig. 3): one panel per (title, kind,
    levels); mean over trials, shaded min-max; legend gives each curve's Pm."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = grid(len(panels))
    pal = sns.color_palette("viridis", n_colors=max(2, curves.level.nunique()))
    order = sorted(curves.level.unique())
    for ax, (ptitle, kind, levels) in zip(axes, panels):
        for lv in levels:
            sub = curves[(curves.kind == kind) & (curves.level == lv)]
            if sub.empty:
                continue
            g = sub.groupby("iteration").test_acc
            m, lo, hi = g.mean() * 100, g.min() * 100, g.max() * 100
            c = pal[order.index(lv)]
            ax.plot(m.index, m.values, color=c, ls=KIND_STYLE[kind],
                    label=f"Pm {sub.pm.mean():.1f}%")
            ax.fill_between(m.index, lo.values, hi.values, color=c, alpha=0.15)
        late = curves[curves.iteration >= 0.1 * curves.iteration.max()].test_acc * 100
        if len(late):  # as the paper's Fig. 3: zoom on the end of training, not the first steps
            ax.set_ylim(max(0.0, late.min() - 0.5), min(100.0, late.max() + 0.3))
        ax.set_title(ptitle, fontsize=10)
        ax.set_xlabel("Training iteration")
        ax.set_ylabel("Test accuracy (%)")
        ax.legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _admonition(title: str, body: str, markdown: bool) -> str:
    if markdown:  # MyST (the book parses Markdown outputs as MyST): a themed warning box
        return f"```{{admonition}} {title}\n:class: warning\n{body}\n```"
    body = body.replace("**", "<b>", 1)
    while "**" in body:  # alternate opening/closing tags
        body = body.replace("**", "</b>", 1).replace("**", "<b>", 1)
    return (f'<div class="admonition warning"><p class="admonition-title">{title}</p>'
            f"<p>{body.replace('*not measured*', '<i>not measured</i>')}</p></div>")


def banner(info: dict | list[dict], gpu_pending: bool = False,
           levels: tuple[int, int] | None = None, markdown: bool = False) -> str:
    """A visible admonition when a page shows a smoke run, or only ``levels[0]`` of the
    profile's ``levels[1]`` pruning levels (a run in progress); "" otherwise. ``markdown``:
    MyST for ``display(Markdown(...))`` (the book's pages); else HTML."""
    infos = info if isinstance(info, list) else [info]
    i = infos[0]
    if all(x["profile"] != "smoke" for x in infos):
        if levels and levels[0] < levels[1]:
            return _admonition("Partial run",
                               f"This page shows pruning levels 0-{levels[0]} of the {i['profile']} profile's "
                               f"0-{levels[1]}: the run stops there or is still in progress (`--levels`). "
                               "Claims at densities below the last level shown are marked *not measured*.",
                               markdown)
        return ""
    body = (f"This figure shows a **smoke run** ({i['iterations']:,} iterations per level, "
            f"{i['config']['train_limit'] or 'all'} training examples, seeds {i['seeds']}, "
            f"levels 0-{levels[0] if levels else i['levels']}): it checks that the pipeline runs. "
            "It is **not a result** and its numbers say nothing about the paper's claims.")
    if gpu_pending:
        body += (" Real results for this figure are **pending a GPU run** of the budget profile "
                 "(no GPU was available when this page was built).")
    return _admonition("Smoke run, not a result", body, markdown)


def _net(key: str) -> str:
    return key.replace("conv", "Conv-") if key.startswith("conv") else key


def campaign_banner(infos: dict[str, dict], chains: dict[str, tuple[int, int]], markdown: bool = False) -> str:
    """A visible admonition when a multi-network page shows a campaign in progress (issue 21):
    per network the levels trained and how much of the paper's protocol they rest on, the
    networks still pending; "" when every chain is complete. ``chains``: {key: (last level
    trained or -1, levels planned)} (``ondemand.obtain_available``)."""
    if all(done == planned for done, planned in chains.values()):
        return ""
    shown = [f"**{_net(k)}: levels 0-{d} of {p}**" + (f", {infos[k]['coverage']}" if infos[k].get("coverage") else "")
             for k, (d, p) in chains.items() if d >= 0]
    pend = [_net(k) for k, (d, _) in chains.items() if d < 0]
    prof = next(iter(infos.values()))["profile"] if infos else "this"
    body = (f"This page shows what exists of a campaign in progress ({prof} profile): "
            + ("; ".join(shown) if shown else "no network yet") + ".")
    if pend:
        body += f" {' and '.join(pend)}: **pending** (no results yet; a GPU campaign, `python -m lthrepro slice`)."
    body += (" Claims about the best level of a chain are marked *pending* until the chain is trained; "
             "claims about the dense network are judged now.")
    return _admonition("Partial results", body, markdown)


def settings(cfgs: dict) -> str:
    """The settings each run of a figure used (Markdown table), from the configs themselves."""
    cols = ("model", "optimizer", "lr", "momentum", "batch_size", "iterations", "warmup",
            "milestones", "dropout", "augment", "scope", "rates", "levels", "seeds", "reinits")
    lines = ["| run | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for name, c in cfgs.items():
        d = c.to_dict()
        lines.append(f"| {html.escape(name)} | " + " | ".join(
            html.escape(str(d[k])).replace("|", "/") for k in cols) + " |")
    return "\n".join(lines)


def variant_panels(frames: dict[str, pd.DataFrame], title: str,
                   metrics: tuple[str, ...] = ("early_stop_test_acc", "final_test_acc")) -> plt.Figure:
    """DLT ablation pages (Zhou et al. Figs. 3-5): one line per variant (IMP trials; mean over
    seeds, error bars = min and max), labelled by the variant's name alone."""
    fig = density_panels(frames, list(metrics), ["imp"], title=title)
    h, labels = fig.axes[0].get_legend_handles_labels()
    fig.axes[0].legend(h, [lab.split(":")[0] for lab in labels], fontsize=8, loc="lower left")
    return fig


def untrained_panels(untr: pd.DataFrame, title: str) -> plt.Figure:
    """DLT §5.1-5.2: test accuracy of the *untrained* network under each criterion's one-shot
    mask, θ0 weights above, signed constants below; the dotted line is chance (10%)."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = grid(2)
    crit = sorted(untr.criterion.unique())
    pal = dict(zip(crit, sns.color_palette("tab10", len(crit)), strict=True))
    ticks = sorted({round(100 * d, 1) for d in untr.density}, reverse=True)[::2]
    for ax, w in zip(axes, ["init", "signed_constant"]):
        for c, sub in untr[untr.weights == w].groupby("criterion"):
            g = sub.groupby("level").agg(pm=("density", "mean"), m=("test_acc", "mean"),
                                         lo=("test_acc", "min"), hi=("test_acc", "max"))
            ax.errorbar(100 * g.pm, 100 * g.m, yerr=[100 * (g.m - g.lo), 100 * (g.hi - g.m)], marker="o",
                        ms=3, capsize=2, color=pal[c], label=c, lw=2.2 if c.startswith("large_final") else 1.2)
        ax.axhline(10, color="gray", ls=":", lw=1)
        ax.set_xscale("log")
        ax.invert_xaxis()
        ax.minorticks_off()
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{t:g}" for t in ticks], rotation=45)
        ax.set_xlabel("Percent of weights remaining")
        ax.set_ylabel("Test accuracy, untrained (%)")
        ax.set_title("θ0 weights" if w == "init" else "signed constant α·sign(θ0)", fontsize=10)
    axes[0].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


# LTH Fig. 3's three panels: the densities each shows, and which runs (tickets or reinit).
FIG3_PANELS = (("winning tickets, Pm 100 / 51.3 / 21.1%", "imp", (100, 51.3, 21.1)),
               ("winning tickets, Pm 100 / 21.1 / 7.0 / 3.6 / 1.9%", "imp", (100, 21.1, 7.0, 3.6, 1.9)),
               ("random reinit, Pm 51.3 / 21.1%", "reinit", (51.3, 21.1)))


def fig3_panels(run_dir, df: pd.DataFrame, seeds, title: str = "") -> plt.Figure:
    """LTH Fig. 3 from a results folder: test-accuracy curves at the paper's densities; the
    densities this run does not reach are left out."""
    from lthrepro.book.measures import level_at
    from lthrepro.store.summaries import load_curves
    have = {p: lv for p in FIG3_PM if (lv := level_at(df, p)) is not None}
    levels = sorted(set(have.values()))
    curves = pd.concat([load_curves(run_dir, k, levels, seeds) for k in ("imp", "reinit")])
    panels = [(t, kind, [have[p] for p in pms if p in have]) for t, kind, pms in FIG3_PANELS]
    return curve_panels(curves, panels, title=title)
