"""Markdown blocks of the book's pages that are not figures: the "run with" box papermill's
parameters become, and the tables of the supermask chapter (Zhou et al. 2019). Notebooks call
these so that no page carries formatting code (issue 9: the code of a page is folded away and
what a reader sees is the claim, the figure, the table and the verdict)."""

from __future__ import annotations

import json

import pandas as pd

from .paper import to_markdown


def run_with(notebook: str, params: dict, cli: str | None = None) -> str:
    """The parameters a page was executed with, once and compactly, as the exact commands that
    reproduce it: papermill (any notebook) and, where the page has one, the lthrepro CLI."""
    shown = " · ".join(f"`{k}={json.dumps(v)}`" for k, v in params.items())
    cmds = [f"papermill notebooks/{notebook} book/{notebook} -y '{json.dumps(params)}'"] + ([cli] if cli else [])
    # MyST: the inner code fence is shorter than the admonition's fence.
    return "\n".join(["````{admonition} Run with", ":class: tip", f"Executed with {shown}.", "",
                      "```bash", *cmds, "```", "````"])


def dlt_note(infos: list[dict]) -> str:
    """Who produced a DLT page: profile, seeds, iterations and rounds, device, date, test set."""
    i = infos[0]
    return (f"{i['profile']} profile, seeds {i['seeds']}, {i['config']['iterations']:,} iterations "
            f"per round, rounds 0-{i['config']['levels']}, {i['device']}, {i['date']}; {i['test_note']}")


def dlt_sources(frames: dict, infos: list[dict]) -> str:
    return ("Results folders: " + ", ".join(f"`{i['name']}` ({k})" for k, i in zip(frames, infos))
            + ". " + dlt_note(infos))


def variant_table(frames: dict[str, pd.DataFrame]) -> str:
    """Test accuracy at early stop (%) per round, one column per variant (IMP trials)."""
    tab = pd.DataFrame({k: df[df.kind == "imp"].groupby("level").early_stop_test_acc.mean() * 100
                        for k, df in frames.items()})
    tab.insert(0, "Pm (%)", next(iter(frames.values())).groupby("level").pm.mean())
    tab = tab.round(2).reset_index()
    tab["level"] = tab.level.astype(int).astype(str)
    return to_markdown(tab)


def untrained_best(untr: pd.DataFrame) -> str:
    """Untrained accuracy per criterion and weights at the density with the best *validation*
    accuracy (the test set never chooses, issue 10), with that Pm (DLT §5)."""
    pick = "val_acc" if "val_acc" in untr else None
    if pick is None:
        return "(this table has no validation accuracy, so no density can be chosen: re-run it)"
    best = (untr[untr.level > 0].groupby(["criterion", "weights", "level"])
            .agg(test_acc=("test_acc", "mean"), val_acc=(pick, "mean"), pm=("density", "mean")).reset_index()
            .sort_values(["val_acc", "level"]).groupby(["criterion", "weights"]).tail(1))
    best = best.assign(**{"test acc. (%)": (100 * best.test_acc).round(2), "at Pm (%)": (100 * best.pm).round(1)})
    wide = best.pivot(index="criterion", columns="weights", values=["test acc. (%)", "at Pm (%)"]).reset_index()
    return to_markdown(wide.set_axis(["criterion", "acc. θ0", "acc. S.C.", "Pm θ0", "Pm S.C."], axis=1))


def learned_summary(lt: pd.DataFrame) -> str:
    """Learned supermasks (DLT §5.3): sampled masks (mean, min-max of 10 draws), the mask s > 0,
    and densities; % test accuracy."""
    show = lt.assign(**{"weights": lt.supermask_weights, "DWR": lt.dwr,
                        "sampled (mean of 10)": (100 * lt.sampled10_test_acc).round(2),
                        "min–max of 10": [f"{100 * a:.2f}–{100 * b:.2f}" for a, b in
                                          zip(lt.sampled10_test_acc_min, lt.sampled10_test_acc_max, strict=True)],
                        "mask s>0": (100 * lt.threshold_test_acc).round(2),
                        "density (expected, %)": (100 * lt.density).round(1),
                        "density s>0 (%)": (100 * lt.threshold_density).round(1)})
    cols = ["weights", "DWR", "seed", "sampled (mean of 10)", "min–max of 10", "mask s>0",
            "density (expected, %)", "density s>0 (%)"]
    return to_markdown(show[cols])


def untrained_sources(uprov: dict, infos: list[dict], profile: str) -> str:
    return (f"Untrained-supermask table: evaluated {uprov['date']} on {uprov['device']} "
            f"({uprov['wall_seconds']} s, no training); {uprov['data']}. Learned supermasks: "
            + ", ".join(f"`{i['name']}`" for i in infos) + f"; {profile} profile, seeds "
            f"{infos[0]['seeds']}, {infos[0]['config']['iterations']:,} iterations, "
            f"{infos[0]['device']}, {infos[0]['date']}.")
