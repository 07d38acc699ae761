"""Write the source notebooks in ``notebooks/`` (committed without outputs).

The notebooks are the project's figure recipes; this script keeps their common structure in
one place: claim (markdown) -> ``parameters`` cell -> obtain results -> one figure -> the
paper-vs-ours table (marked ``# NBVAL_CHECK_OUTPUT``) -> verdict. No ``def``/``class`` in them:
everything they compute lives in ``lthrepro``. Run: ``python scripts/make_notebooks.py``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat as nbf

ROOT = Path(__file__).resolve().parent.parent
CIFAR_RULE = (
    "**CIFAR-10 test set.** `../shared/data` holds only the first 1,017 of the 10,000 official "
    "CIFAR-10 test images, so every test accuracy computed from it is labelled *test accuracy on "
    "1,017 official test images* (the label comes from each run's `config.json`, "
    "`data.test_note`). Users with the full test set (`cifar10/test.npz`) get the full test set "
    "from the same code. Validation (5,000 images held out of the training set) is complete.")


def params(seeds: list[int]) -> str:
    return (f'PROFILE = "budget"  # smoke | budget | paper\nSEEDS = {seeds}\nDEVICE = "cpu"\n'
            'RESULTS_DIR = "results"  # relative to the repository root\n'
            "OVERRIDES = {}  # extra config fields (the CPU smoke runs of the CIFAR nets shrink data)\n"
            'EXECUTOR = "local"  # local | ray | ray:ADDRESS: where missing runs train (Running at scale)')


# What a reader sees (issue 9): claim, figure, paper-vs-ours table, verdict. Code is folded
# (``hide-input``) or removed where it only sets things up (``remove-input``: its output, a
# smoke/partial-run warning, stays); our ``parameters`` cell is removed, and papermill's
# injected one becomes a "Run with" box (``runner.execute``).
HIDE, SETUP, GONE = ["hide-input"], ["remove-input"], ["remove-cell"]
CHECK = ("from IPython.display import Markdown, display\nimport matplotlib.pyplot as plt\n\n"
         "from lthrepro.book import claims, pages, plots\nfrom lthrepro.scale import ondemand\nfrom lthrepro.store import summaries\n"
         "from lthrepro.core.config import FIG1_RANDOM_PER_TRIAL, check_parameters, make_config\n\n"
         "check_parameters(PROFILE=PROFILE, SEEDS=SEEDS, DEVICE=DEVICE, RESULTS_DIR=RESULTS_DIR, OVERRIDES=OVERRIDES,\n"
         "                 EXECUTOR=EXECUTOR)")
TABLE = ('# NBVAL_CHECK_OUTPUT\ntable = claims.compare("{fig}", {frames}, smoke=PROFILE == "smoke")\n'
         "display(Markdown(claims.to_markdown(table)))")
VERDICT = "display(Markdown(claims.verdict(table, {info})))"
MADE = "## How this page was made"


def notebook(cells: list[tuple]) -> nbf.NotebookNode:
    """Cells are (kind, source) or (kind, source, tags); kind is md, params or code."""
    nb = nbf.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python"}}
    for kind, src, *tags in cells:
        if kind == "md":
            nb.cells.append(nbf.v4.new_markdown_cell(src))
            continue
        c = nbf.v4.new_code_cell(src)
        c.metadata["tags"] = ["parameters", *GONE] if kind == "params" else list(tags[0] if tags else HIDE)
        nb.cells.append(c)
    for i, c in enumerate(nb.cells):  # stable ids keep diffs small
        c["id"] = f"cell-{i:02d}"
    return nb


def lenet_setup(extra: str) -> str:
    """``extra``: the figure's own config fields, which OVERRIDES may change (e.g. ``notebooks
    --set random_prune=1`` for the random-sparse controls run so far, issue 15)."""
    over = f"{{{extra}**OVERRIDES}}" if extra else "OVERRIDES"
    return (f'cfg = make_config("lenet", PROFILE, seeds=tuple(SEEDS), **{over})\n'
            "run = ondemand.obtain(cfg, device=DEVICE, root=RESULTS_DIR, executor=EXECUTOR)\n"
            "df, info = summaries.load_summary(run, cfg), summaries.run_info(run)\n"
            'warning = plots.banner(info, levels=(cfg.levels, make_config("lenet", PROFILE).levels), markdown=True)\n'
            "if warning:\n    display(Markdown(warning))")


LENET_MADE = 'display(Markdown(f"Results folder `{run.name}`: " + plots.caption(info)))'


def multi_setup(runs: str) -> str:
    return (f"cfgs = {runs}\n"
            "dirs = {k: ondemand.obtain(c, device=DEVICE, root=RESULTS_DIR, executor=EXECUTOR)"
            " for k, c in cfgs.items()}\n"
            "frames = {k: summaries.load_summary(dirs[k], cfgs[k]) for k in cfgs}\n"
            "infos = [summaries.run_info(d) for d in dirs.values()]\n"
            "shown = max(c.levels for c in cfgs.values())\n"
            "warning = plots.banner(infos, gpu_pending=True, levels=(shown, shown), markdown=True)\n"
            "if warning:\n    display(Markdown(warning))")


MULTI_MADE = ("display(Markdown(plots.settings(cfgs)))\n"
              'display(Markdown("Results folders: " + ", ".join(f"`{d.name}`" for d in dirs.values())'
              ' + ". " + plots.caption(infos)))')


def density_plot(frames: str, metrics: list[str], kinds: list[str], title: str, info: str) -> str:
    one = f"{info}[0]" if info == "infos" else info
    return (f"fig = plots.density_panels({frames}, {metrics}, {kinds},\n"
            f'    title=f"{title} ({{{one}[\'profile\']}} profile, seeds {{{one}[\'seeds\']}})")\n'
            "display(fig)\nplt.close(fig)\n"
            f'display(Markdown("**Figure (ours).** Mean over trials; error bars: min and max of any '
            f'trial. " + plots.caption({info})))')


def lth_page(claim: str, seeds: list[int], setup: str, plot: str, fig: str, frames: str, info: str,
             made: str) -> list[tuple]:
    """Claim -> (parameters, checks: removed) -> warning if any -> figure -> table -> verdict
    -> how the page was made."""
    return [("md", claim), ("params", params(seeds)), ("code", CHECK, GONE), ("code", setup, SETUP),
            ("code", plot), ("code", TABLE.format(fig=fig, frames=frames)),
            ("code", VERDICT.format(info=info)), ("md", MADE), ("code", made)]


FIGS: dict[str, list[tuple]] = {}

FIGS["fig01_lenet_random_sparse"] = lth_page(
    claim=("# Figure 1 (LeNet panel): winning tickets versus random sparse networks\n\n"
           "**Claim** (Frankle & Carbin, LTH v5, Figure 1 and §1): sparse networks sampled at "
           "random learn more slowly and reach lower test accuracy the sparser they are, while "
           "winning tickets found by iterative magnitude pruning keep (or improve) both down to "
           "small sizes. The paper gives this figure only as a plot (dashed: random sparse, mean "
           "of 10 trials; solid: winning tickets, mean of 5), so every paper value below is "
           "approximate and nothing is judged pass/fail.\n\n"
           "*Random sparse* here is LTH App. E's control: a random mask with the ticket's per-layer "
           "densities applied to the trial's own θ₀. The paper averages 10 random sparse networks per "
           "density; the `budget` profile has one per trial (2 in all), trained beside the tickets "
           "in the same results folder."),
    seeds=[0, 1],
    setup=lenet_setup('"random_prune": FIG1_RANDOM_PER_TRIAL[PROFILE], '),
    plot=density_plot("{'': df}", ["early_stop_iter", "early_stop_test_acc"], ["imp", "random"],
                          "LTH Figure 1, LeNet on MNIST", "info"),
    fig="fig01", frames="df", info="info",
    made=LENET_MADE)

FIGS["fig03_lenet_training_curves"] = lth_page(
    claim=("# Figure 3: test accuracy of LeNet tickets during training\n\n"
           "**Claim** (LTH v5, Figure 3 and §2): at Pm = 51.3% a winning ticket reaches higher test "
           "accuracy faster than the original network; below Pm ≈ 21.1% learning slows again, and "
           "at Pm = 3.6% the ticket regresses to the original's performance. Randomly "
           "reinitialised tickets (third panel) learn more slowly than the winning tickets of the "
           "same size.\n\nPanels follow the paper's three: first Pm 100 / 51.3 / 21.1%; second Pm 100 / 21.1 / "
           "7.0 / 3.6 / 1.9%; third the reinitialised networks at 51.3 and 21.1%. Densities the run "
           "does not reach are left out."),
    seeds=[0, 1],
    setup=lenet_setup(""),
    plot=("fig = plots.fig3_panels(run, df, cfg.seeds,\n"
          "    title=f\"LTH Figure 3, LeNet on MNIST ({info['profile']} profile, seeds {info['seeds']})\")\n"
          "display(fig)\nplt.close(fig)\n"
          "display(Markdown(f\"**Figure (ours).** Test accuracy every {cfg.eval_every} iterations; \"\n"
          "                 \"line: mean over trials, band: min to max. \" + plots.caption(info)))"),
    fig="fig03", frames="df", info="info",
    made=LENET_MADE)

FIGS["fig04_lenet_pruning"] = lth_page(
    claim=("# Figure 4: early stopping and accuracy of LeNet tickets as they are pruned\n\n"
           "**Claim** (LTH v5, Figure 4 and §2): iteratively pruned winning tickets stop early "
           "(minimum validation loss) up to 38% sooner than the original at Pm = 21.1% and reach "
           "higher test accuracy (more than +0.3 points at 13.5%); randomly reinitialised tickets "
           "fall below the original's accuracy at Pm = 21.1%. One-shot pruning also finds tickets "
           "(earlier stop for 67.5% ≥ Pm ≥ 17.6%, higher accuracy for 95.0% ≥ Pm ≥ 5.17%), but "
           "iterative pruning finds smaller ones.\n\nPanels: (a) early-stop iteration, (b) test "
           "accuracy at early stop, (c) test accuracy at the end of training, for iterative "
           "pruning (solid), random reinitialisation (dashed) and one-shot pruning (dotted)."),
    seeds=[0, 1],
    setup=lenet_setup('"oneshot": True, '),
    plot=density_plot("{'': df}", ["early_stop_iter", "early_stop_test_acc", "final_test_acc"],
                          ["imp", "reinit", "oneshot"], "LTH Figure 4, LeNet on MNIST", "info"),
    fig="fig04", frames="df", info="info",
    made=LENET_MADE)

CONV_RUNS = '{n: make_config(n, PROFILE, seeds=tuple(SEEDS), **OVERRIDES) for n in ("conv2", "conv4", "conv6")}'
FIGS["fig05_conv"] = lth_page(
    claim=("# Figure 5: Conv-2, Conv-4 and Conv-6 on CIFAR-10\n\n"
           "**Claim** (LTH v5, Figure 5 and §3): with layer-wise iterative pruning (conv 10 / 10 / "
           "15%, fc 20%, output 10% per round) winning tickets learn up to 3.5× (Conv-2, Pm 8.8%), "
           "3.5× (Conv-4, 9.2%) and 2.5× (Conv-6, 15.1%) faster and reach up to +3.4 / +3.5 / +3.3 "
           "points higher test accuracy than the original networks; randomly reinitialised "
           "networks learn more and more slowly as they are pruned.\n\n" + CIFAR_RULE),
    seeds=[0, 1],
    setup=multi_setup(CONV_RUNS),
    plot=density_plot("frames", ["early_stop_iter", "early_stop_test_acc", "final_test_acc"],
                          ["imp", "reinit"], "LTH Figure 5, Conv-2/4/6 on CIFAR-10", "infos"),
    fig="fig05", frames="frames", info="infos[0]",
    made=MULTI_MADE)

FIGS["fig06_conv_dropout"] = lth_page(
    claim=("# Figure 6: Conv-2, Conv-4 and Conv-6 with dropout\n\n"
           "**Claim** (LTH v5, Figure 6, §3 and App. H.5): dropout (rate 0.5 on the fully-connected "
           "layers, iterations tripled to 60K / 75K / 90K) raises the networks' initial test "
           "accuracy by +2.1 / +3.0 / +2.4 points, and iterative pruning then raises it further, "
           "by up to +2.3 / +4.6 / +4.7 points: the lottery ticket effect composes with dropout.\n\n"
           "**Settings used** (`make_config(net, PROFILE, variant=\"dropout\")`): dropout 0.5 on the "
           "fc layers, three times the iterations, and the paper's Adam learning rates for dropout "
           "(3e-4 / 2e-4 / 2e-4 for Conv-2 / 4 / 6, App. H.5 and the Fig. 6 caption; Figure 5 uses "
           "2e-4 / 3e-4 / 3e-4); other settings as Figure 5 (the table of settings below shows what "
           "ran).\n\n" + CIFAR_RULE),
    seeds=[0, 1],
    setup=multi_setup('{(f"{n}-{v}" if v else n): make_config(n, PROFILE, v, seeds=tuple(SEEDS), **OVERRIDES)\n'
                         '        for n in ("conv2", "conv4", "conv6") for v in (None, "dropout")}'),
    plot=density_plot("frames", ["early_stop_iter", "early_stop_test_acc"], ["imp"],
                          "LTH Figure 6, Conv-2/4/6 with and without dropout", "infos"),
    fig="fig06", frames="frames", info="infos[0]",
    made=MULTI_MADE)

FIGS["fig07_vgg19"] = lth_page(
    claim=("# Figure 7: VGG-19 on CIFAR-10, global pruning\n\n"
           "**Claim** (LTH v5, Figure 7 and §4): pruning the conv layers globally at 20% per round, "
           "at the usual learning rate 0.1 IMP finds no winning tickets (no better than random "
           "reinitialisation); at lr 0.01 the subnetworks stay within 1 point of the original for "
           "Pm ≥ 3.5% but are not winning tickets; with lr 0.1 and 10K iterations of linear warmup, "
           "winning tickets exceed the original (whose accuracy warmup raises by about 1 point) for "
           "Pm ≥ 1.5%. Dense accuracies of this setup (STAB-v3): 91.5 / 92.0 / 92.3%.\n\n"
           "Data augmentation as the paper (pad 4 + random crop, horizontal flip), on the device. "
           + CIFAR_RULE),
    seeds=[0],
    setup=multi_setup('{(f"vgg19-{v}" if v else "vgg19"): make_config("vgg19", PROFILE, v, seeds=tuple(SEEDS), **OVERRIDES)\n'
                         '        for v in (None, "lr0.01", "warmup10k")}'),
    plot=density_plot("frames", ["early_stop_test_acc", "final_test_acc"], ["imp", "reinit"],
                          "LTH Figure 7, VGG-19 on CIFAR-10", "infos"),
    fig="fig07", frames="frames", info="infos[0]",
    made=MULTI_MADE)

FIGS["fig08_resnet18"] = lth_page(
    claim=("# Figure 8: \"ResNet-18\" (ResNet-20) on CIFAR-10, global pruning\n\n"
           "**Claim** (LTH v5, Figure 8 and §4): the paper's \"Resnet-18\" is the CIFAR ResNet-20. "
           "At lr 0.1 (dense 90.5%) IMP finds no winning tickets; at lr 0.01 the best tickets reach "
           "89.5% for 41.7% ≥ Pm ≥ 21.9%, below the lr-0.1 original; with lr 0.03 and 20K "
           "iterations of warmup they reach 90.5% at Pm = 27.1% and are winning tickets for "
           "Pm ≥ 11.8%.\n\nData augmentation as the paper (pad 4 + random crop, horizontal flip). "
           + CIFAR_RULE),
    seeds=[0],
    setup=multi_setup('{(f"resnet18-{v}" if v else "resnet18"): make_config("resnet18", PROFILE, v, seeds=tuple(SEEDS), **OVERRIDES)\n'
                         '        for v in (None, "lr0.01", "lr0.03-warmup20k")}'),
    plot=density_plot("frames", ["early_stop_test_acc", "final_test_acc"], ["imp", "reinit"],
                          "LTH Figure 8, ResNet-20 on CIFAR-10", "infos"),
    fig="fig08", frames="frames", info="infos[0]",
    made=MULTI_MADE)


# ------------------------------------------------------------------ supermask chapter (DLT)
# Zhou et al. 2019 pages: same layout; their runs come from ``python -m lthrepro.supermask``.
DLT_PARAMS = ('PRESET = "lenet"  # lenet | conv2 | conv4 | conv6 (the conv nets: pending a GPU run)\n'
              'PROFILE = "budget"  # smoke | budget | paper (DLT protocols in lthrepro/experiments/supermask.py)\n'
              "SEEDS = None  # None: the seeds of the DLT profile (budget: seeds 0 and 1)\n"
              'DEVICE = "cpu"\nRESULTS_DIR = "results"  # relative to the repository root\n'
              "OVERRIDES = {}  # extra config fields (CPU smoke runs of the conv nets shrink data)")
DLT_CHECK = ("from IPython.display import Markdown, display\nimport matplotlib.pyplot as plt\n\n"
             "from lthrepro.book import claims, plots, supermasks\nfrom lthrepro.core.config import check_parameters\n\n"
             "SEEDS = supermasks.page_seeds(PRESET, PROFILE, SEEDS)\n"
             "check_parameters(PROFILE=PROFILE, SEEDS=SEEDS, DEVICE=DEVICE, RESULTS_DIR=RESULTS_DIR, OVERRIDES=OVERRIDES)\n"
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

DLT_CLAIM["dlt_criteria"] = ("# DLT Figure 3: mask criteria\n\n"
                             "**Claim** (Zhou et al. 2019, §2 and Fig. 3; paper-numbers.md §2.2, reading notes, tag "
                             "S): of the eight criteria that choose which weights to keep, `large_final` (the LTH "
                             "criterion) and `magnitude_increase` work best, followed by `large_init_large_final` and "
                             "`movement`; all four match the lottery ticket or do better. `small_*` criteria and "
                             "`random` do worse.\n\n"
                             "Every criterion runs the same iterative loop as LTH (train, keep the weights with the "
                             "largest score, reset the kept weights to θ0, repeat) with LTH's per-layer rates (fc 20%,"
                             " output 10% per round). We add `large_final_same_sign` from the authors' code (used for "
                             "the best untrained supermask, see the supermask page).")

DLT_CLAIM["dlt_mask1"] = ("# DLT §3: mask-1 actions (what kept weights start from)\n\n"
                          "**Claim** (Zhou et al. 2019, abstract and §3; tag T for the direction): re-initialising,"
                          " reshuffling or setting the kept weights to a constant ±α destroys the ticket, *unless "
                          "each weight keeps the sign of its θ0*; with signs kept these variants approach the "
                          "lottery ticket (\"signs are all you need\"). The paper's figure number for this result is "
                          "not verified in paper-numbers.md, so we cite the section.\n\n"
                          "Actions: `reset` (θ0, LTH), `reinit` (a fresh Gaussian Glorot draw), `reshuffle` (θ0 "
                          "values permuted among the layer's kept positions), `constant` (±α, α = the layer's init "
                          "std, random sign), and `signed_reinit`, `signed_reshuffle`, `signed_constant` (same "
                          "magnitudes, sign of θ0). The mask is found with `large_final`; pruned weights are zero.")

DLT_CLAIM["dlt_mask0"] = ("# DLT §4: mask-0 actions (what pruned weights are)\n\n"
                          "**Claim** (Zhou et al. 2019, §4; reading notes, tag S): freezing pruned weights at their"
                          " initial values instead of zero is worse (except at extreme sparsity). Setting a pruned "
                          "weight to zero only if it moved toward zero during training, else freezing it at θ0 "
                          "(Variant 1), matches LT at low pruning and beats it at high pruning; applying the rule "
                          "to all weights (Variant 2) is better still — \"masking is training\".\n\n"
                          "Actions: `zero` (LTH), `freeze_init` (θ0), `freeze_init_zero_mask` (Variant 1: 0 if "
                          "|w_f| < |w_i| in the previous round, else θ0), `freeze_init_zero_all` (Variant 2: the "
                          "same rule also sets *kept* weights that moved toward zero to start at 0). Mask from "
                          "`large_final`, kept weights reset to θ0.")

DLT_CLAIM["dlt_supermasks"] = ("# DLT §5 and Table 2: supermasks\n\n"
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


def dlt_family_page(name: str, family: str, title: str) -> list[tuple]:
    return [("md", DLT_CLAIM[name]), ("params", DLT_PARAMS), ("code", DLT_CHECK, SETUP),
            ("code", f'frames, infos = supermasks.family_frames(PRESET, PROFILE, "{family}", root=RESULTS_DIR, '
                     f"device=DEVICE, **over)\n" + DLT_WARN, SETUP),
            ("code", f'fig = plots.variant_panels(frames, f"{title}: {{PRESET}} ({{PROFILE}} profile)")\n'
                     "display(fig)\nplt.close(fig)\n"
                     'display(Markdown("**Figure (ours).** One line per variant; mean over seeds, error bars = '
                     'min and max of any seed (a single seed has none). First panel: test accuracy at early stop '
                     '(minimum validation loss); second: at the end of training. " + supermasks.dlt_note(infos)))'),
            ("md", DLT_CAVEAT),
            ("code", TABLE.format(fig=name, frames="frames")), ("code", DLT_VERDICT),
            ("md", "## Test accuracy at early stop (%) per round, one column per variant"),
            ("code", "display(Markdown(supermasks.variant_table(frames)))"),
            ("md", DLT_CONV), ("md", MADE), ("code", "display(Markdown(supermasks.dlt_sources(frames, infos)))")]


FIGS["dlt_criteria"] = dlt_family_page("dlt_criteria", "criteria", "DLT Figure 3")
FIGS["dlt_mask1"] = dlt_family_page("dlt_mask1", "mask1", "DLT §3")
FIGS["dlt_mask0"] = dlt_family_page("dlt_mask0", "mask0", "DLT §4")
FIGS["dlt_supermasks"] = [
    ("md", DLT_CLAIM["dlt_supermasks"]), ("params", DLT_PARAMS), ("code", DLT_CHECK, SETUP),
    ("code", "untr, uprov = supermasks.untrained_table(PRESET, PROFILE, root=RESULTS_DIR, **over)\n"
             "lt, infos = supermasks.learned_table(PRESET, PROFILE, root=RESULTS_DIR, device=DEVICE, **over)\n"
             + DLT_WARN, SETUP),
    ("code", "fig = plots.untrained_panels(untr, f\"Untrained networks under one-shot masks of each criterion "
             "({PRESET}, {PROFILE} profile)\")\ndisplay(fig)\nplt.close(fig)\n"
             'display(Markdown("**Figure (ours).** Test accuracy of the untrained network with each criterion\'s '
             'mask; dotted line = chance (10%). Masks from the trained dense network of the `large_final` run '
             '(round 0). " + f"{uprov[\'data\']}."))'),
    ("code", '# NBVAL_CHECK_OUTPUT\nclaims = "dlt_supermask" if PRESET == "lenet" else f"dlt_supermask_{PRESET}"\n'
             'table = claims.compare(claims, {"untrained": untr, "learned": lt}, smoke=PROFILE == "smoke")\n'
             "display(Markdown(claims.to_markdown(table)))"),
    ("code", DLT_VERDICT),
    ("md", "## Untrained accuracy per criterion and weights, at the density best on validation (with its Pm)"),
    ("code", "display(Markdown(supermasks.untrained_best_table(untr)))"),
    ("md", "## Learned supermasks (sampled masks; % test accuracy)"),
    ("code", "display(Markdown(supermasks.learned_summary(lt)))"),
    ("md", DLT_CONV), ("md", MADE), ("code", "display(Markdown(supermasks.untrained_sources(uprov, infos, PROFILE)))"),
]

# --------------------------------------------------- early-bird tickets (You et al. 2020)
EB_PARAMS = '''PROFILE = "budget"  # smoke | budget | paper
SEEDS = {seeds}
DEVICE = "cpu"
RESULTS_DIR = "results"  # relative to the repository root
OVERRIDES = {{}}  # extra config fields (CPU smoke runs shrink data)
EPS = 0.1  # distance threshold (You et al.: 0.1)
KEEP = 5  # masks in the queue (You et al.: 5)'''

EB_CHECK = '''from IPython.display import Markdown, display
import matplotlib.pyplot as plt

from lthrepro.book import claims, earlybird as eb
from lthrepro.core.config import check_parameters

check_parameters(PROFILE=PROFILE, SEEDS=SEEDS, DEVICE=DEVICE, RESULTS_DIR=RESULTS_DIR, OVERRIDES=OVERRIDES)'''

EB_SETUP = '''run = eb.obtain("{preset}", PROFILE, SEEDS, DEVICE, RESULTS_DIR, OVERRIDES, EPS, KEEP)
r = eb.load(run)
imp = {imp}
display(*[Markdown(b) for b in [eb.banner(r["info"]{gpu})] if b])  # the banner, only when there is one
display(Markdown(f"Results folder `{{run.name}}`: " + eb.caption(r["info"])))'''

EB_FIG = '''fig = eb.figure(r, imp)
display(fig)
plt.close(fig)
display(Markdown("**Figure 1 (ours).** Left: pairwise distance between the masks recorded during the dense run "
                 "(seed shown in the title; colour scale from 0 to the largest possible distance 2·min(p, 1−p)); "
                 "× = draw by the paper's rule, ○ = draw with ε taken as a fraction of the maximum. "
                 "Right: test accuracy at early stop, mean over trials, bars min–max. " + eb.caption(r["info"])))'''

EB_TABLES = '''display(Markdown("**Draw points**\\n\\n" + eb.draw_table(r)))
acc = eb.accuracy_table(r, imp)
display(Markdown("**Tickets**\\n\\n" + eb.accuracy_markdown(acc, r["summary"][r["summary"].ticket == "dense"], r["model"])))'''

EB_CMP = '''# NBVAL_CHECK_OUTPUT
table = claims.compare("{preset}", eb.frames(r, imp), smoke=PROFILE == "smoke", claims=eb.claims("{preset}"))
display(Markdown(claims.to_markdown(table)))'''

EB_VERDICT = '''display(Markdown(claims.verdict(table, r["info"])))'''

FIGS["earlybird_lenet"] = [
    ("md", """# Early-bird tickets on LeNet: the mask settles early (our transfer)

**Claim** (You et al., *Drawing Early-Bird Tickets*, ICLR 2020, abstract and §3): the pruning mask stops changing early in training, so a ticket can be drawn long before training ends — "up to 4.7× energy savings while maintaining comparable or even better accuracy". The paper's signature figure is the pairwise mask-distance matrix of one training run (its figure number is not in our reference notes, so we cite none); **Figure 1** below is ours. Their masks are *channel* masks (network slimming) of VGG-16 and PreResNet-101 on CIFAR; see the [VGG-16 page](earlybird_vgg16.ipynb).

**This page is our transfer, not the paper's experiment.** We apply the paper's rule to LeNet-300-100 on MNIST with *unstructured* magnitude masks, the masks of the LTH chapters: every 100 iterations of the dense run we compute the one-shot layer-wise magnitude mask at the densities of the tickets we compare with (Pm 51.3%, 21.1%, 7.0%: 3, 7 and 12 IMP levels), keep the last 5 masks and draw the ticket as soon as the newest is within ε = 0.1 (normalised Hamming distance) of each of the 4 before it. The drawn mask is reset to θ0 and retrained for the full schedule (variant `reset`), beside the one-shot ticket drawn at the end of the same run and the IMP ticket of the same density from the LTH LeNet run of the same profile."""),
    ("params", EB_PARAMS.format(seeds="[0, 1]")),
    ("hcode", EB_CHECK),
    ("hcode", EB_SETUP.format(preset="lenet", imp='eb.imp_tickets([3, 7, 12], SEEDS, PROFILE, RESULTS_DIR)', gpu="")),
    ("hcode", EB_FIG),
    ("hcode", EB_TABLES),
    ("md", """**Why the normalisation of the distance matters for ε.** Two masks that each prune a fraction p of N weights differ in at most 2·min(p, 1−p)·N entries, so the normalised Hamming distance can never exceed 2·min(p, 1−p). For LeNet at Pm 7.0% (p = 0.93) that maximum is 0.14: the paper's ε = 0.1 then accepts masks that share only about a third of their kept weights, and the rule fires almost at once. At Pm 51.3% (p ≈ 0.49) the maximum is 0.97 and ε = 0.1 is a strict test. The paper's channel ratios (30–70%) have maxima of 0.6–1.0, where ε = 0.1 means much the same thing at every ratio; our sparse LeNet masks do not. The column "ε × max distance" applies the same rule to distances divided by their maximum, so ε means the same fraction of "completely different" at every density, and that ticket (`eb_rel`) is retrained too (a ticket drawn at the same iteration as another is the same run and is not trained twice).

**Training cost** counts multiply-accumulates of the forward pass of one example (one per kept weight: the *sparse* count, which dense kernels do not realise), times the iterations trained, relative to one full dense training: early-bird = draw iteration × dense + full retraining × density; end-of-training one-shot = 1 + density; IMP at level n = the sum of the densities of levels 0…n (every level trains for the full schedule). Computing the masks (sorting) is not counted."""),
    ("hcode", EB_CMP.format(preset="lenet")),
    ("hcode", EB_VERDICT),
    ("md", """**What is ours and what is the paper's.** The rule (queue of 5 masks, ε = 0.1, normalised Hamming distance, check once per recorded mask starting with the untrained network's) is the authors' code (`main.py`, `EarlyBird`; tag C). Everything else on this page is ours: unstructured layer-wise magnitude masks instead of channel masks, a mask every 100 iterations instead of every epoch, LeNet on MNIST, reset to θ0 (LTH) instead of continuing, the distance normalised by its maximum, and the "comparable accuracy" threshold (EB at most 0.5 points below the end-of-training ticket at early stop, fixed before the budget run). The paper's headline (tag T) is about channel pruning of CIFAR networks, so a "no" here does not contradict it and a "yes" does not confirm it: it says whether the idea transfers."""),
]
FIGS["earlybird_vgg16"] = [
    ("md", """# Early-bird tickets: VGG-16 channel pruning on CIFAR-10

**Claim** (You et al., *Drawing Early-Bird Tickets*, ICLR 2020, abstract and §3–4): with network slimming (an L1 penalty on batch-norm scales γ, channels kept above one global |γ| threshold), the channel mask of VGG-16 stops changing early in training (the paper's pairwise mask-distance figure; **Figure 1** below is ours), so the ticket can be drawn after a few epochs and retrained, for "up to 4.7× energy savings while maintaining comparable or even better accuracy".

**Protocol** (authors' code and scripts, `followup-numbers.md` §3, tag C): VGG-16 with batch norm, 160 epochs of batch 256, SGD momentum 0.9, lr 0.1 ×0.1 at epochs 80 and 120, weight decay 1e-4, γ.grad += 10⁻⁴·sign(γ); after each epoch the mask at p = 30%, 50%, 70% of the 4,224 channels; the ticket is drawn when the newest mask is within ε = 0.1 of each of the 4 before it. Our channel mask removes exactly ⌊4,224·p⌋ channels (1,267 / 2,112 / 2,956), ties broken by position; the authors' `|γ| > y[⌊N·p⌋]` (`gt`) removes one more and every channel tied at the threshold — at initialisation, where every γ is 1, it removes all of them. A removed channel has γ and β fixed at 0, so nothing of it reaches the next layer. We hold out 5,000 training images for validation, so an epoch is 175 iterations. **CIFAR-10 test set:** `../shared/data` holds only the first 1,017 official test images, so every test accuracy here is *test accuracy on 1,017 official test images*.

**Retraining variants.** `eb-continue`: the dense weights and batch-norm statistics at the draw epoch, masked, trained for the remaining epochs with the schedule continued — what the paper describes. The authors' CIFAR `main_c.py` loads only the channel configuration of that checkpoint, so as written it trains a *freshly initialised* pruned network over those epochs; we do not run that variant. `eb-reset` and `end-reset`: the early-bird and the end-of-training masks on θ0 of the same run, trained for the full schedule (like the authors' `main_scratch.py`, with θ0 instead of a new initialisation)."""),
    ("params", EB_PARAMS.format(seeds="[0]")),
    ("hcode", EB_CHECK),
    ("hcode", EB_SETUP.format(preset="vgg16-eb", imp="None", gpu=", gpu_pending=True")),
    ("hcode", EB_FIG),
    ("hcode", EB_TABLES),
    ("md", """**Training cost** counts multiply-accumulates of the forward pass (convolutions with removed channels taken out of both their input and output, and the linear head) times the iterations trained, relative to the full dense protocol; for `eb-continue`: draw epoch × dense + remaining epochs × pruned; for `reset` tickets: the search up to their draw + 160 epochs of the pruned network."""),
    ("hcode", EB_CMP.format(preset="vgg16-eb")),
    ("hcode", EB_VERDICT),
    ("md", """**Pending a GPU run.** No GPU was available when this page was built: it shows a CPU smoke run of the pipeline only. The budget run (40 of the 160 epochs, milestones at epochs 20 and 30, seed 0; what is cut is stated in `lthrepro/core/config.py::BUDGET`) is

```bash
python -m lthrepro earlybird vgg16-eb --profile budget --device cuda
python -m lthrepro notebooks --profile budget --only eb_vgg16 --device cuda
```

and the paper's protocol is the same command with `--profile paper`. Estimate (not measured on a GPU): a VGG-16 training epoch of 45,000 CIFAR images is about 45,000 × 3 × 0.31 GMAC ≈ 42 TMAC; at an effective 20–40 TFLOP/s for our grouped fp32 kernels that is 2–4 s per network-epoch, plus evaluation. The budget run trains 1 dense network for 40 epochs and 9 pruned ones (3 ratios × 3 tickets, masked rather than physically smaller, so each costs a dense epoch) for up to 40 epochs: about 400 network-epochs, 15–30 min; the paper profile is 4× that, 1–2 h."""),
]


def main() -> None:
    import sys
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "notebooks"
    out.mkdir(exist_ok=True)
    for name, cells in FIGS.items():
        nbf.write(notebook(cells), out / f"{name}.ipynb")
        print(out / f"{name}.ipynb")


if __name__ == "__main__":
    main()
