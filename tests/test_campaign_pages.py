"""A page of several networks shows what exists of a campaign in progress (issue 21, Fig. 5):
finished levels of a network are shown, a network without results is pending, claims about
the best of a chain wait for the chain, and the dense claims are judged now."""

from __future__ import annotations

import pandas as pd
import pytest

from lthrepro.book import claims, plots
from lthrepro.core.presets import make_config
from lthrepro.experiments import lottery
from lthrepro.scale import ondemand

TINY = dict(dataset="synthetic", iterations=6, eval_every=3, batch_size=12, train_limit=120, seeds=(0,), reinits=1)


def test_obtain_available_shows_finished_levels_and_leaves_the_rest_pending(tmp_path, monkeypatch):
    a = make_config("lenet", "smoke", **TINY, levels=3)
    b = make_config("lenet", "smoke", **TINY, levels=3, lr=0.002)  # another network, never trained
    lottery.run(make_config("lenet", "smoke", **TINY, levels=1), root=tmp_path)
    monkeypatch.setenv("LTHREPRO_NO_TRAIN", "1")
    before = sorted(p.name for p in tmp_path.iterdir())
    dirs, shown, chains = ondemand.obtain_available({"a": a, "b": b}, root=tmp_path)
    assert chains == {"a": (1, 3), "b": (-1, 3)} and list(dirs) == ["a"] and shown["a"].levels == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing trained or written
    # a complete chain is obtained as usual
    dirs, shown, chains = ondemand.obtain_available({"a": make_config("lenet", "smoke", **TINY, levels=1)},
                                                    root=tmp_path)
    assert chains == {"a": (1, 1)}


def _frame(levels: int, val0: float, stop0: int = 2000) -> pd.DataFrame:
    rows = []
    for lv in range(levels + 1):
        for kind in (["imp"] if lv == 0 else ["imp", "reinit"]):
            rows.append({"kind": kind, "seed": 0, "rep": 0, "level": lv, "density": 0.8 ** lv,
                         "early_stop_iter": stop0 - 300 * lv if kind == "imp" else stop0 + 300 * lv,
                         "early_stop_test_acc": 0.66, "early_stop_val_acc": val0 if lv == 0 else 0.67,
                         "final_test_acc": 0.65, "final_val_acc": 0.66, "final_train_acc": 1.0})
    df = pd.DataFrame(rows)
    df["pm"], df["iterations"] = 100 * df.density, 5000
    return df


@pytest.mark.parametrize("val0, holds", [(0.675, "yes"), (0.62, "no")])
def test_partial_fig5_judges_the_dense_claim_and_holds_the_chain_claims(val0, holds):
    chains = {"conv2": (1, 12), "conv4": (-1, 12), "conv6": (-1, 12)}
    t = claims.compare("fig05", {"conv2": _frame(1, val0)}, chains=chains).set_index("Claim")["Holds?"]
    assert t["conv2: dense validation accuracy at early stop"].startswith(holds)
    assert t["conv2: best early-stop speed-up of a winning ticket"] == "pending (levels 0-1 of 12 trained so far)"
    assert t["conv4: best early-stop speed-up of a winning ticket"] == "pending (no results for this network yet)"
    assert t["conv4: dense validation accuracy at early stop"].startswith("pending")
    v = claims.verdict(claims.compare("fig05", {"conv2": _frame(1, val0)}, chains=chains),
                       {"profile": "budget", "seeds": [0], "iterations": 5000})
    assert "1 checked claims hold" in v if holds == "yes" else "Not reproduced: conv2: dense" in v
    assert "pending" in v
    # a dense early stop in the last 20% of the schedule: inconclusive at this budget, not judged
    late = claims.compare("fig05", {"conv2": _frame(1, val0, stop0=4800)}, chains=chains).set_index("Claim")
    dense = late.loc["conv2: dense validation accuracy at early stop", "Holds?"]
    assert dense.startswith("inconclusive at this budget")
    # the whole chain trained: the chain claims are judged
    full = claims.compare("fig05", {"conv2": _frame(3, val0)}, chains={"conv2": (3, 3)}).set_index("Claim")
    assert full.loc["conv2: best early-stop speed-up of a winning ticket", "Holds?"].startswith("yes")


def test_campaign_banner_names_levels_and_pending_networks():
    infos = {"conv2": {"profile": "budget",
                       "coverage": "5,000 of the paper's 20,000 iterations per level, 1 of 5 trials"}}
    b = plots.campaign_banner(infos, {"conv2": (1, 12), "conv4": (-1, 12), "conv6": (-1, 12)}, markdown=True)
    assert "Conv-2: levels 0-1 of 12" in b and "1 of 5 trials" in b and "Conv-4 and Conv-6: **pending**" in b
    assert plots.campaign_banner(infos, {"conv2": (12, 12)}) == ""


def test_status_page_reads_a_stability_run_and_never_trains_one(tmp_path):
    """The status page once trained a missing stability run (it called the page's ``obtain``);
    now a folder not on disk is reported pending and nothing is written."""
    import nbformat

    from lthrepro.book import execute
    book, res = tmp_path / "book", tmp_path / "res"
    book.mkdir()
    res.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"parameters": {"PROFILE": "smoke", "SEEDS": [0], "RESULTS_DIR": str(res),
                                               "OVERRIDES": {}}}
    nbformat.write(nb, book / "stab_lenet_instability.ipynb")
    md = execute.status_markdown(book)
    row = next(r for r in md.splitlines() if r.startswith("| [stab_lenet_instability]"))
    assert "pending: no results yet" in row and "stability-lenet-" in row
    assert not any(res.iterdir())  # nothing trained, nothing created
