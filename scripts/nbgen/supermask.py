"""The supermask chapter: Zhou et al. 2019 (DLT) pages in the same layout as the LTH pages;
their runs come from ``python -m lthrepro supermasks``."""

from __future__ import annotations

import nbformat as nbf

from .cells import CHECKED, MADE, SETUP, TABLE, notebook

DLT_PARAMS = ('PRESET = "lenet"  # lenet | conv2 | conv4 | conv6 (the conv nets: pending a GPU run)\n'
              'PROFILE = "budget"  # smoke | budget | paper '
              '(DLT protocols in lthrepro/experiments/supermask.py)\n'
              "SEEDS = None  # None: the seeds of the DLT profile (budget: seeds 0 and 1)\n"
              'DEVICE = "cpu"\nRESULTS_DIR = "results"  # relative to the repository root\n'
              "OVERRIDES = {}  # extra config fields (CPU smoke runs of the conv nets shrink data)")
DLT_CHECK = ("from IPython.display import Markdown, display\nimport matplotlib.pyplot as plt\n\n"
             "from lthrepro.book import claims, plots, supermasks\n"
             "from lthrepro.core.userargs import check_parameters\n\n"
             "SEEDS = supermasks.page_seeds(PRESET, PROFILE, SEEDS)\n"
             f"check_parameters({CHECKED})\n"
             "over = supermasks.page_overrides(PRESET, PROFILE, SEEDS, OVERRIDES)")
DLT_WARN = ('warning = plots.banner(infos, gpu_pending=PRESET != "lenet", markdown=True)\n'
            "if warning:\n    display(Markdown(warning))")
DLT_VERDICT = ('display(Markdown(claims.verdict(table, {"profile": PROFILE, "seeds": infos[0]["seeds"],\n'
               '                                       "iterations": infos[0]["config"]["iterations"]})))')
DLT_CLAIM: dict[str, str] = {}
DLT_CONV = ("**Conv-2 / Conv-4 / Conv-6 on CIFAR-10.** This notebook runs unchanged with `PRESET = "
            "\"conv2\"` (or conv4, conv6). No GPU was available when this page was built: the conv "
            "results are **pending a GPU run** (`python -m lthrepro supermasks conv2 --profile budget "
            "--device cuda`); only smoke runs of the conv pipeline were made. CIFAR-10 accuracies "
            "from the data copy used here are *test accuracy on 1,017 official test images*.")
DLT_CAVEAT = ("**Paper vs ours.** Differences are taken at the sparsest round every variant reached (or"
              " at the stated Pm), averaged over the seeds run (budget: 2). Differences of a few tenths of a"
              " point are within the seed-to-seed spread of LeNet runs (±0.2 points, STAB-v3 Fig. 2), so a"
              " direction check can flip with other seeds.")

DLT_CLAIM["dlt_criteria"] = (
    "# DLT Figure 3: mask criteria\n\n"
    "**Claim** (Zhou et al. 2019, §2 and Fig. 3; paper-numbers.md §2.2, reading notes, tag "
    "S): of the eight criteria that choose which weights to keep, `large_final` (the LTH "
    "criterion) and `magnitude_increase` work best, followed by `large_init_large_final` and "
    "`movement`; all four match the lottery ticket or do better. `small_*` criteria and "
    "`random` do worse.\n\n"
    "Every criterion runs the same iterative loop as LTH (train, keep the weights with the "
    "largest score, reset the kept weights to θ0, repeat) with LTH's per-layer rates (fc 20%,"
    " output 10% per round). We add `large_final_same_sign` from the authors' code (used for "
    "the best untrained supermask, see the supermask page).")

DLT_CLAIM["dlt_mask1"] = (
    "# DLT §3: mask-1 actions (what kept weights start from)\n\n"
    "**Claim** (Zhou et al. 2019, abstract and §3; tag T for the direction): re-initialising,"
    " reshuffling or setting the kept weights to a constant ±α destroys the ticket, *unless "
    "each weight keeps the sign of its θ0*; with signs kept these variants approach the "
    "lottery ticket (\"signs are all you need\"). The paper's figure number for this result is "
    "not verified in paper-numbers.md, so we cite the section.\n\n"
    "Actions: `reset` (θ0, LTH), `reinit` (a fresh Gaussian Glorot draw), `reshuffle` (θ0 "
    "values permuted among the layer's kept positions), `constant` (±α, α = the layer's init "
    "std, random sign), and `signed_reinit`, `signed_reshuffle`, `signed_constant` (same "
    "magnitudes, sign of θ0). The mask is found with `large_final`; pruned weights are zero.")

DLT_CLAIM["dlt_mask0"] = (
    "# DLT §4: mask-0 actions (what pruned weights are)\n\n"
    "**Claim** (Zhou et al. 2019, §4; reading notes, tag S): freezing pruned weights at their"
    " initial values instead of zero is worse (except at extreme sparsity). Setting a pruned "
    "weight to zero only if it moved toward zero during training, else freezing it at θ0 "
    "(Variant 1), matches LT at low pruning and beats it at high pruning; applying the rule "
    "to all weights (Variant 2) is better still — \"masking is training\".\n\n"
    "Actions: `zero` (LTH), `freeze_init` (θ0), `freeze_init_zero_mask` (Variant 1: 0 if "
    "|w_f| < |w_i| in the previous round, else θ0), `freeze_init_zero_all` (Variant 2: the "
    "same rule also sets *kept* weights that moved toward zero to start at 0). Mask from "
    "`large_final`, kept weights reset to θ0.")

DLT_CLAIM["dlt_supermasks"] = (
    "# DLT §5 and Table 2: supermasks\n\n"
    "**Claims** (Zhou et al. 2019): a mask alone, applied to an *untrained* network, gives "
    "far better than chance accuracy — with the `large_final_same_sign` mask and signed-"
    "constant weights **86% on MNIST** (abstract, tag T). A mask *learned* by gradient "
    "descent over frozen weights does much better (95.3% on MNIST, tag S; with dynamic weight"
    " rescaling up to 98.0%, tag S). Most other cells of Table 2 are unverified and are shown"
    " as approximate.\n\n"
    "**Untrained supermask** (§5.1-5.2): masks are chosen one-shot from the trained dense "
    "network (as the authors' `get_init_loss_train_lottery.py` does) at the density of n IMP "
    "rounds, and applied to θ0 or to signed constants α·sign(θ0) (α = the layer's init std); "
    "no training. The density reported is the one with the best *validation* accuracy; the "
    "test set only reports.\n\n"
    "**Learned supermask** (§5.3): weights are frozen; each weight has a score s, the mask is"
    " a Bernoulli(sigmoid(s)) sample drawn every forward pass, and gradients reach s through "
    "a straight-through estimator. SGD, lr 100, momentum 0.9, batch 250 (authors' README). We"
    " report **sampled** masks: the mean test accuracy over 10 mask draws at the end (as the "
    "authors' code), plus the deterministic mask s > 0. Density = expected fraction of ones "
    "(mean sigmoid(s)). DWR multiplies each layer by (weights in the layer) / (ones in its "
    "mask).")


def dlt_family_page(name: str, family: str, title: str) -> nbf.NotebookNode:
    """A family of variants (criteria, mask-1 or mask-0 actions): one line each."""
    figure = (f'fig = plots.variant_panels(frames, f"{title}: {{PRESET}} ({{PROFILE}} profile)")\n'
              "display(fig)\nplt.close(fig)\n"
              'display(Markdown("**Figure (ours).** One line per variant; mean over seeds, error bars = '
              'min and max of any seed (a single seed has none). First panel: test accuracy at early stop '
              '(minimum validation loss); second: at the end of training. " + supermasks.dlt_note(infos)))')
    return notebook([
        ("md", DLT_CLAIM[name]), ("params", DLT_PARAMS), ("code", DLT_CHECK, SETUP),
        ("code", f'frames, infos = supermasks.family_frames(PRESET, PROFILE, "{family}", root=RESULTS_DIR, '
                 f"device=DEVICE, **over)\n" + DLT_WARN, SETUP),
        ("code", figure), ("md", DLT_CAVEAT),
        ("code", TABLE.format(fig=name, frames="frames")), ("code", DLT_VERDICT),
        ("md", "## Test accuracy at early stop (%) per round, one column per variant"),
        ("code", "display(Markdown(supermasks.variant_table(frames)))"),
        ("md", DLT_CONV), ("md", MADE), ("code", "display(Markdown(supermasks.dlt_sources(frames, infos)))")])


PAGES: dict[str, nbf.NotebookNode] = {}
PAGES["dlt_criteria"] = dlt_family_page("dlt_criteria", "criteria", "DLT Figure 3")
PAGES["dlt_mask1"] = dlt_family_page("dlt_mask1", "mask1", "DLT §3")
PAGES["dlt_mask0"] = dlt_family_page("dlt_mask0", "mask0", "DLT §4")
PAGES["dlt_supermasks"] = notebook([
    ("md", DLT_CLAIM["dlt_supermasks"]), ("params", DLT_PARAMS), ("code", DLT_CHECK, SETUP),
    ("code", "untr, uprov = supermasks.untrained_table(PRESET, PROFILE, root=RESULTS_DIR, **over)\n"
             "lt, infos = supermasks.learned_table(PRESET, PROFILE, root=RESULTS_DIR, device=DEVICE, **over)\n"
             + DLT_WARN, SETUP),
    ("code", "fig = plots.untrained_panels(untr, f\"Untrained networks under one-shot masks of each criterion "
             "({PRESET}, {PROFILE} profile)\")\ndisplay(fig)\nplt.close(fig)\n"
             'display(Markdown("**Figure (ours).** Test accuracy of the untrained network with each criterion\'s '
             'mask; dotted line = chance (10%). Masks from the trained dense network of the `large_final` run '
             '(round 0). " + f"{uprov[\'data\']}."))'),
    ("code", '# NBVAL_CHECK_OUTPUT\nfigure = "dlt_supermask" if PRESET == "lenet" else f"dlt_supermask_{PRESET}"\n'
             'table = claims.compare(figure, {"untrained": untr, "learned": lt}, smoke=PROFILE == "smoke")\n'
             "display(Markdown(claims.to_markdown(table)))"),
    ("code", "display(Markdown(claims.verdict(table, supermasks.judged_info(PRESET, PROFILE, infos, over))))"),
    ("md", "## Untrained accuracy per criterion and weights, at the density best on validation (with its Pm)"),
    ("code", "display(Markdown(supermasks.untrained_best_table(untr)))"),
    ("md", "## Learned supermasks (sampled masks; % test accuracy)"),
    ("code", "display(Markdown(supermasks.learned_summary(lt)))"),
    ("md", DLT_CONV), ("md", MADE), ("code", "display(Markdown(supermasks.untrained_sources(uprov, infos, PROFILE)))"),
])
