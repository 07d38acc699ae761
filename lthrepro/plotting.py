"""Figures in the style of LTH v5: x axis = percent of weights remaining (log scale, dense on
the left), mean over trials with error bars = min and max of any trial (LTH §1), solid lines
for winning tickets, dashed for controls (random reinit, random sparse), dotted for one-shot.
"""

from __future__ import annotations

import html

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .results import aggregate

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


def density_panels(frames: dict[str, pd.DataFrame], metrics: list[str], kinds: list[str],
                   title: str = "") -> plt.Figure:
    """One panel per metric against percent of weights remaining; one colour per run
    (frames key), one line style per kind. Legends name the densities via the x ticks."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4.2), squeeze=False)
    colors = sns.color_palette("tab10", n_colors=max(1, len(frames)) * len(kinds))
    for ax, metric in zip(axes[0], metrics):
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
    axes[0][0].legend(fontsize=8, loc="best")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def curve_panels(curves: pd.DataFrame, panels: list[tuple[str, str, list[int]]],
                 title: str = "") -> plt.Figure:
    """Test accuracy over training iterations (LTH Fig. 3): one panel per (title, kind,
    levels); mean over trials, shaded min-max; legend gives each curve's Pm."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    pal = sns.color_palette("viridis", n_colors=max(2, curves.level.nunique()))
    order = sorted(curves.level.unique())
    for ax, (ptitle, kind, levels) in zip(axes[0], panels):
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
        ax.set_title(ptitle, fontsize=10)
        ax.set_xlabel("Training iteration")
        ax.set_ylabel("Test accuracy (%)")
        ax.legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def banner(info: dict | list[dict], gpu_pending: bool = False,
           levels: tuple[int, int] | None = None) -> str:
    """A visible admonition (HTML, styled by the book's theme) when a page shows a smoke run,
    or only ``levels[0]`` of the profile's ``levels[1]`` pruning levels (a run in progress)."""
    infos = info if isinstance(info, list) else [info]
    i = infos[0]
    if all(x["profile"] != "smoke" for x in infos):
        if levels and levels[0] < levels[1]:
            return ('<div class="admonition warning"><p class="admonition-title">Partial run</p><p>'
                    f"This page shows pruning levels 0-{levels[0]} of the {i['profile']} profile's "
                    f"0-{levels[1]} (the run was still in progress when the page was rendered). "
                    "Claims at densities below the last level shown are marked "
                    "<i>not measured</i>.</p></div>")
        return ""
    body = (f"This figure shows a <b>smoke run</b> ({i['iterations']:,} iterations per level, "
            f"{i['config']['train_limit'] or 'all'} training examples, seeds {i['seeds']}, "
            f"levels 0-{levels[0] if levels else i['levels']}): it checks that the pipeline runs. "
            "It is <b>not a result</b> and its numbers say nothing about the paper's claims.")
    if gpu_pending:
        body += (" Real results for this figure are <b>pending a GPU run</b> of the budget profile "
                 "(no GPU was available when this page was built).")
    return ('<div class="admonition warning"><p class="admonition-title">Smoke run, not a result'
            f"</p><p>{body}</p></div>")


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
