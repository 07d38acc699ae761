"""The LTH figure pages (Frankle & Carbin, Figures 1 and 3-8): claim -> parameters -> obtain
results (training what is missing) -> one figure -> paper-vs-ours table -> verdict."""

from __future__ import annotations

import nbformat as nbf

from .cells import CHECKED, GONE, MADE, SETUP, TABLE, notebook

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


CHECK = ("from IPython.display import Markdown, display\nimport matplotlib.pyplot as plt\n"
         "from lthrepro.book import claims, pages, plots\nfrom lthrepro.scale import ondemand\n"
         "from lthrepro.store import summaries\n"
         "from lthrepro.core.presets import FIG1_RANDOM_PER_TRIAL, make_config\n"
         "from lthrepro.core.userargs import check_parameters\n\n"
         f"check_parameters({CHECKED},\n"
         "                 EXECUTOR=EXECUTOR)")
VERDICT = "display(Markdown(claims.verdict(table, {info})))"


def lenet_setup(extra: str) -> str:
    """``extra``: the figure's own config fields, which OVERRIDES may change (e.g. ``notebooks
    --set random_prune=1`` for the random-sparse controls run so far, issue 15)."""
    over = f"{{{extra}**OVERRIDES}}" if extra else "OVERRIDES"
    return (f'cfg = make_config("lenet", PROFILE, seeds=tuple(SEEDS), **{over})\n'
            "run = ondemand.obtain(cfg, device=DEVICE, root=RESULTS_DIR, executor=EXECUTOR)\n"
            "df, info = summaries.load_summary(run, cfg), summaries.run_info(run, SEEDS)\n"
            'warning = plots.banner(info, levels=(cfg.levels, make_config("lenet", PROFILE).levels), markdown=True)\n'
            "if warning:\n    display(Markdown(warning))")


LENET_MADE = 'display(Markdown(f"Results folder `{run.name}`: " + plots.caption(info)))'


def multi_setup(runs: str) -> str:
    return (f"cfgs = {runs}\n"
            "dirs = {k: ondemand.obtain(c, device=DEVICE, root=RESULTS_DIR, executor=EXECUTOR)"
            " for k, c in cfgs.items()}\n"
            "frames = {k: summaries.load_summary(dirs[k], cfgs[k]) for k in cfgs}\n"
            "infos = [summaries.run_info(d, SEEDS) for d in dirs.values()]\n"
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
             made: str, table: str = TABLE) -> nbf.NotebookNode:
    """Claim -> (parameters, checks: removed) -> warning if any -> figure -> table -> verdict
    -> how the page was made."""
    return notebook([("md", claim), ("params", params(seeds)), ("code", CHECK, GONE), ("code", setup, SETUP),
                     ("code", plot), ("code", table.format(fig=fig, frames=frames)),
                     ("code", VERDICT.format(info=info)), ("md", MADE), ("code", made)])


PAGES: dict[str, nbf.NotebookNode] = {}

PAGES["fig01_lenet_random_sparse"] = lth_page(
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

PAGES["fig03_lenet_training_curves"] = lth_page(
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

PAGES["fig04_lenet_pruning"] = lth_page(
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
# Fig. 5 shows what exists of its campaigns (issue 21): Conv-2 trains on the CPU level by level,
# Conv-4/6 wait for a GPU; rendered without training, a network's finished levels are shown and
# the rest is marked pending (a papermill run with training enabled trains everything).
CAMPAIGN_SETUP = (f"cfgs = {CONV_RUNS}\n"
                  "dirs, shown, chains = ondemand.obtain_available(cfgs, device=DEVICE, root=RESULTS_DIR, "
                  "executor=EXECUTOR)\n"
                  "frames = {k: summaries.load_summary(dirs[k], shown[k]) for k in dirs}\n"
                  "infos = [summaries.run_info(d, SEEDS) for d in dirs.values()]\n"
                  "warning = plots.banner(infos, gpu_pending=True, markdown=True) or \\\n"
                  "    plots.campaign_banner(dict(zip(dirs, infos)), chains, markdown=True)\n"
                  "if warning:\n    display(Markdown(warning))")
CAMPAIGN_TABLE = TABLE.replace('smoke=PROFILE == "smoke")', 'smoke=PROFILE == "smoke", chains=chains)')
PAGES["fig05_conv"] = lth_page(
    claim=("# Figure 5: Conv-2, Conv-4 and Conv-6 on CIFAR-10\n\n"
           "**Claim** (LTH v5, Figure 5 and §3): with layer-wise iterative pruning (conv 10 / 10 / "
           "15%, fc 20%, output 10% per round) winning tickets learn up to 3.5× (Conv-2, Pm 8.8%), "
           "3.5× (Conv-4, 9.2%) and 2.5× (Conv-6, 15.1%) faster and reach up to +3.4 / +3.5 / +3.3 "
           "points higher test accuracy than the original networks; randomly reinitialised "
           "networks learn more and more slowly as they are pruned. The dense Conv-2 reaches "
           "67.6% validation accuracy at early stop (App. H.2, mean of 3 trials; its test accuracy "
           "is only plotted, ≈65-70%).\n\n" + CIFAR_RULE + "\n\n**Where the runs come from.** Conv-2 "
           "trains on a CPU as a campaign (`python -m lthrepro campaign conv2-budget`), level by level; "
           "Conv-4 and Conv-6 need a GPU (`python -m lthrepro slice`). This page shows the levels "
           "committed so far and marks the rest pending."),
    seeds=[0, 1],
    setup=CAMPAIGN_SETUP,
    plot=density_plot("frames", ["early_stop_iter", "early_stop_test_acc", "final_test_acc"],
                          ["imp", "reinit"], "LTH Figure 5, Conv-2/4/6 on CIFAR-10", "infos"),
    fig="fig05", frames="frames", info="infos[0]",
    made=MULTI_MADE, table=CAMPAIGN_TABLE)

PAGES["fig06_conv_dropout"] = lth_page(
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

PAGES["fig07_vgg19"] = lth_page(
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
    setup=multi_setup('{(f"vgg19-{v}" if v else "vgg19"): '
                      'make_config("vgg19", PROFILE, v, seeds=tuple(SEEDS), **OVERRIDES)\n'
                         '        for v in (None, "lr0.01", "warmup10k")}'),
    plot=density_plot("frames", ["early_stop_test_acc", "final_test_acc"], ["imp", "reinit"],
                          "LTH Figure 7, VGG-19 on CIFAR-10", "infos"),
    fig="fig07", frames="frames", info="infos[0]",
    made=MULTI_MADE)

PAGES["fig08_resnet18"] = lth_page(
    claim=("# Figure 8: \"ResNet-18\" (ResNet-20) on CIFAR-10, global pruning\n\n"
           "**Claim** (LTH v5, Figure 8 and §4): the paper's \"Resnet-18\" is the CIFAR ResNet-20. "
           "At lr 0.1 (dense 90.5%) IMP finds no winning tickets; at lr 0.01 the best tickets reach "
           "89.5% for 41.7% ≥ Pm ≥ 21.9%, below the lr-0.1 original; with lr 0.03 and 20K "
           "iterations of warmup they reach 90.5% at Pm = 27.1% and are winning tickets for "
           "Pm ≥ 11.8%.\n\nData augmentation as the paper (pad 4 + random crop, horizontal flip). "
           + CIFAR_RULE),
    seeds=[0],
    setup=multi_setup('{(f"resnet18-{v}" if v else "resnet18"): '
                      'make_config("resnet18", PROFILE, v, seeds=tuple(SEEDS), **OVERRIDES)\n'
                         '        for v in (None, "lr0.01", "lr0.03-warmup20k")}'),
    plot=density_plot("frames", ["early_stop_test_acc", "final_test_acc"], ["imp", "reinit"],
                          "LTH Figure 8, ResNet-20 on CIFAR-10", "infos"),
    fig="fig08", frames="frames", info="infos[0]",
    made=MULTI_MADE)

