"""The stability chapter (Frankle et al. 2020, LMC; Frankle et al. 2019, STAB): instability,
error along the linear path and IMP with rewinding, on LeNet and (pending a GPU run) on
ResNet-20 and VGG-16; their runs come from ``python -m lthrepro.stability``. One layout for all
five: claim -> parameters -> obtain the run -> one figure -> paper-vs-ours table -> verdict."""

from __future__ import annotations

import nbformat as nbf

from .cells import CHECKED, notebook

PARAMS = ('PROFILE = "budget"  # smoke | budget | paper (stability.SPECS)\nSEEDS = [0, 1, 2]\nDEVICE = "cpu"\n'
          'RESULTS_DIR = "results"  # relative to the repository root\n'
          "OVERRIDES = {}  # extra config fields (the CPU smoke runs of the CIFAR nets shrink data)")
OBTAIN = ("from IPython.display import Markdown, display\nimport matplotlib.pyplot as plt\n"
          "from lthrepro.book import claims, plots, stability as sb\nfrom lthrepro.core import userargs\n\n"
          f"userargs.check_parameters({CHECKED})\n"
          'run, cfg, spec = sb.obtain("{preset}", PROFILE, SEEDS, DEVICE, RESULTS_DIR, **OVERRIDES)\n'
          "i = sb.info(run)\n"
          "display(*[Markdown(b) for b in [plots.banner(i, gpu_pending={gpu})] if b])"
          "  # the banner, only when there is one\n"
          'display(Markdown(f"Results folder `{{run.name}}`: " + sb.caption(i)))')
PAIRS_CHAINS = '"pairs": sb.pairs(run, spec), "chains": sb.chains(run, cfg, spec)'
TABLE = ("# NBVAL_CHECK_OUTPUT\nframes = {{{frames}}}\n"
         'table = claims.compare("{name}", frames, smoke=PROFILE == "smoke")\n'
         "display(Markdown(claims.to_markdown(table)))")
CAVEAT = ("**Paper vs ours.** Only T and C claims are judged, with rules fixed before the runs "
          "(`lthrepro/book/stability.py`); S, S(q) and ≈ values are secondary and shown, not judged. Instabilities in "
          "percentage points of error.")


def protocol(bn: bool) -> str:
    """LMC's instability protocol; ``bn``: the CIFAR nets, whose batch-norm statistics are part
    of the state the copies continue from and are recomputed along the path."""
    return ("Protocol (LMC §2, §4; STAB §3): two copies start from the same point at iteration k and train to the "
            "end with different data orders. One protocol for every pair, the authors' (their framework, open_lth, "
            "builds a fresh optimizer at any start step: `training/train.py`): the copies start from the dense "
            "run's weights" + (" and batch-norm statistics" if bn else "") + " at k, W_k (dense network), or from "
            "W_k ⊙ m (sparse subnetworks: IMP with survivors rewound to k; random pruning with the same per-layer "
            "densities; random reinit under the IMP mask, from a fresh draw), with a fresh optimizer and the "
            "learning-rate schedule from k. (Until 2026-12-02 this package's dense pairs continued the run's "
            "optimizer state; that choice is now a stated side result.) Errors at 30 "
            "evenly spaced α on the line between the copies, test split and a fixed subset of the training set; "
            + ("batch-norm running statistics are recomputed on training data (un-augmented, exact average over "
               "batches) at every α, the endpoints included; " if bn else "")
            + "instability = max error − mean of the endpoints' errors. *Stable*: instability < 2% (LMC §2); "
            "*matching*: within 0.2 points of the dense network's test accuracy (LMC §4.4).")


def figure(plot: str, caption: str) -> str:
    """``plot``: the line(s) that make ``fig``; ``caption``: the figure's own words."""
    return (f"{plot}\ndisplay(fig)\nplt.close(fig)\n"
            f'display(Markdown("**Figure (ours).** {caption} " + sb.caption(i)))')


RESOLUTION = 'display(Markdown(sb.resolution(sb.barriers(run, spec, i["n_test"]), i["n_test"])))'
SIDE = ("# Side result (not a paper claim, not judged): the dense pairs' optimizer at k\n"
        "side = sb.optimizer_side_result(sb.pairs(run, spec))\n"
        'display(Markdown("**Side result: fresh optimizer vs continued optimizer state (dense pairs).** The same W_k '
        "and data orders; only the optimizer at k differs (LeNet: Adam, whose moments at k the continued copies "
        'keep). Shown, not judged.\\n\\n" + (side.to_markdown(index=False) if len(side) else "No such pairs in '
        'this run.")))')


def stab_page(name: str, ids: str, claim: str, preset: str, gpu_pending: bool, fig: str, caveat: str,
              frames: str = PAIRS_CHAINS, extra: tuple = ()) -> nbf.NotebookNode:
    """``ids``: the cells' ids, those the pages had when they were written by hand (kept, so the
    executed pages in book/ keep theirs), then those of the ``extra`` code cells that follow the figure."""
    return notebook([("md", claim), ("params", PARAMS), ("code", OBTAIN.format(preset=preset, gpu=gpu_pending)),
                     ("code", fig), *(("code", c) for c in extra), ("md", caveat),
                     ("code", TABLE.format(frames=frames, name=name)),
                     ("code", "display(Markdown(sb.verdict(table, i)))")], _ids(ids, len(extra)))


def _ids(ids: str, extra: int) -> list[str]:
    """The hand-written pages' seven ids, with the extra cells' ids (after the fourth) moved in place."""
    i = ids.split()
    return i[:4] + i[7:7 + extra] + i[4:7]


def cifar_page(name: str, net: str, preset: str, stable_at: int, level: str, hours: str,
               ids: str) -> nbf.NotebookNode:
    """The CIFAR nets: LMC's standard protocol, one page for instability and rewinding."""
    claim = (f"# Instability and rewinding: {net} on CIFAR-10 (pending a GPU run)\n\n"
             f"**Claim** (LMC Figure 3; LMC §3-4): the dense {net} becomes stable early in training (iteration "
             f"{stable_at}); its IMP subnetworks at k = 0 are neither stable nor matching, and become both once "
             "rewound to an early k.\n\n"
             "Protocol: LMC's standard one as far as it is known — open_lth's defaults (tagged C): SGD momentum 0.9,"
             " lr 0.1, 62,500 iterations of batch 128, ×0.1 at 31,250 and 46,875, weight decay 1e-4, crop + flip, "
             f"global pruning of 20% of the conv weights per level (preset `{preset}`). " + protocol(bn=True))
    pending = ("\n\n**Pending a GPU run.** No GPU was available when this page was built; it shows a CPU smoke run. "
               f"The real run: `python -m lthrepro.stability {preset} --profile budget --device cuda` (1 seed, dense "
               "k ∈ {0, 500, 2000}, IMP chain and sparse pairs at k ∈ {0, 2000}, level "
               f"{level}; estimated {hours} GPU-hours on one H100-class GPU, not measured), then "
               f"`python -m lthrepro notebooks --profile budget --only {name}`. CIFAR-10 accuracies here are "
               "*test accuracy on 1,017 official test images*.")
    fig = figure(f"fig = sb.instability_vs_k(sb.pairs(run, spec), title=f\"Instability vs k, {net} "
                 "({i['profile']} profile)\")", "Mean over seeds; dotted: the 2% threshold.")
    return stab_page(name, ids, claim, preset, True, fig, CAVEAT + pending)


LENET_TITLE = "LeNet ({i['profile']} profile, seeds {i['seeds']})"
PAGES: dict[str, nbf.NotebookNode] = {}
PAGES["stab_lenet_instability"] = stab_page(
    "stab_lenet_instability", "8b72c577 842a0e0c dcb02fda fa6d8364 40750242 1c5a9bcf bb64a7c0 res-0001 side-0001",
    claim=("# Instability vs rewind point: LeNet on MNIST\n\n"
           "**Claim** (LMC Figure 3; Frankle et al. 2020, LMC §3-4; Frankle et al. 2019, STAB Fig. 3): the dense "
           "LeNet is stable from initialisation (k = 0) and its IMP subnetworks are stable and matching at k = 0; "
           "IMP subnetworks are more stable than random pruning (STAB: 2.8× smaller L2 distance between copies "
           "trained with different data orders).\n\n" + protocol(bn=False)),
    preset="lenet", gpu_pending=False,
    fig=figure(f'fig = sb.instability_vs_k(sb.pairs(run, spec), title=f"Instability vs k, {LENET_TITLE}")',
               "Mean over seeds, error bars min and max; dotted line: the 2% stability threshold."),
    caveat=CAVEAT, extra=(RESOLUTION, SIDE))

PAGES["stab_lenet_paths"] = stab_page(
    "stab_lenet_paths", "428fba95 d0eb6b67 a8cea558 105b2089 7e39e04c beb027d7 7786c5c4 res-0002",
    claim=("# Error along the linear path: LeNet on MNIST\n\n"
           "**Claim** (LMC Figure 2; LMC §2-3, Fig. 2): for a stable network the test and train error stay flat on "
           "the straight line between two copies trained from the same W_k with different data orders; an unstable "
           "one shows a barrier.\n\n" + protocol(bn=False)),
    preset="lenet", gpu_pending=False,
    fig=figure('p = sb.paths(run, [(m, k, lv) for m, lv in (("dense", 0), ("imp", max(spec.levels)), '
               '("random", max(spec.levels)))\n'
               '                   for k in sorted(set(spec.ks) & set(spec.chain_ks) if m != "dense" else spec.ks)])\n'
               f'fig = sb.path_panels(p, title=f"Error along the path, {LENET_TITLE}")',
               "Mean over seeds of the error at each α (solid: test; dashed: train subset)."),
    caveat=CAVEAT, extra=(RESOLUTION,))

PAGES["stab_lenet_rewinding"] = stab_page(
    "stab_lenet_rewinding", "fc1281f7 8b18c6be 4d67f508 3c3e73d4 2f2f8db3 0b10162a 5b6a9e41",
    claim=("# IMP with rewinding: LeNet on MNIST\n\n"
           "**Claim** (STAB Figure 4 and Figure 5; Frankle et al. 2019, STAB Figs. 2-5): rewinding the surviving "
           "weights to their values at an early iteration k instead of θ0 finds winning tickets where resetting to "
           "θ0 does not (deep CIFAR nets); LeNet already has winning tickets at k = 0 (STAB Fig. 2: found; Fig. 3: "
           "98.3% vs 97.5% for random pruning at Pm 10.7%).\n\n"
           "IMP prunes 20% of each fc layer (10% of the output layer) per level and rewinds the survivors to W_k; "
           "each level restarts with a fresh optimizer and the learning-rate schedule from k. The random-pruning "
           "and random-reinit points are the instability copies at the same k and density."),
    preset="lenet", gpu_pending=False,
    fig=figure("fig = sb.rewinding_panel(sb.chains(run, cfg, spec), sb.pairs(run, spec),\n"
               f'                         title=f"IMP with rewinding, {LENET_TITLE}")',
               "Final test accuracy, mean over seeds."),
    caveat=CAVEAT + " The IMP-vs-random comparison at k = 0 and Pm 10.7% (not a density of the pairs) reads the "
    "LTH run of the same profile (`sb.lth_frame`: same schedule, and rewinding to k = 0 is the LTH protocol itself; "
    "its random-sparse control is the one on the Fig. 1 page); with no such run on disk it is *not measured*.",
    frames=PAIRS_CHAINS + ', "lth": sb.lth_frame(run, PROFILE)')

PAGES["stab_resnet20"] = cifar_page(
    "stab_resnet20", "ResNet-20", "resnet20_lmc", 2000, "8 (16.8% of conv weights)", "6-8",
    "07539ea8 854b8da8 4cc59536 ab7f4c4a bdf894a0 97fa24c4 d0136292")
PAGES["stab_vgg16"] = cifar_page(
    "stab_vgg16", "VGG-16", "vgg16_lmc", 1000, "12 (6.9%)", "10-14",
    "1d9a3da2 75144325 2519abd3 5b3b190e a1808ce7 5cf0068d 9e4294b7")
