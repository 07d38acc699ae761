"""Early-bird tickets (You et al. 2020): LeNet with unstructured masks (our transfer of the
rule) and VGG-16 channel pruning on CIFAR-10 (pending a GPU run); their runs come from
``python -m lthrepro earlybird``."""

from __future__ import annotations

import nbformat as nbf

from .cells import notebook

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
from lthrepro.core.userargs import check_parameters

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

EB_TABLES = ('display(Markdown("**Draw points**\\n\\n" + eb.draw_table(r)))\n'
             "acc = eb.accuracy_table(r, imp)\n"
             'display(Markdown("**Tickets**\\n\\n" + eb.accuracy_markdown(acc, '
             'r["summary"][r["summary"].ticket == "dense"], r["model"])))')

EB_CMP = '''# NBVAL_CHECK_OUTPUT
table = claims.compare("{preset}", eb.frames(r, imp), smoke=PROFILE == "smoke", claims=eb.claims("{preset}"))
display(Markdown(claims.to_markdown(table)))'''

EB_VERDICT = '''display(Markdown(claims.verdict(table, r["info"])))'''


def eb_page(preset: str, claim: str, seeds: str, imp: str, gpu: str, cost: str, end: str) -> nbf.NotebookNode:
    """Claim -> (parameters, removed) -> checks -> the run (banner, results folder) -> Figure 1 ->
    draw points and tickets -> how to read them (``cost``) -> table -> verdict -> ``end``."""
    return notebook([("md", claim), ("params", EB_PARAMS.format(seeds=seeds)), ("code", EB_CHECK),
                     ("code", EB_SETUP.format(preset=preset, imp=imp, gpu=gpu)), ("code", EB_FIG),
                     ("code", EB_TABLES), ("md", cost), ("code", EB_CMP.format(preset=preset)),
                     ("code", EB_VERDICT), ("md", end)])


PAGES: dict[str, nbf.NotebookNode] = {}
PAGES["earlybird_lenet"] = eb_page(
    "lenet", seeds="[0, 1]", imp="eb.imp_tickets([3, 7, 12], SEEDS, PROFILE, RESULTS_DIR)", gpu="",
    claim=(
        "# Early-bird tickets on LeNet: the mask settles early (our transfer)\n\n"
        "**Claim** (You et al., *Drawing Early-Bird Tickets*, ICLR 2020, abstract and §3): the pruning mask stops "
        "changing early in training, so a ticket can be drawn long before training ends — \"up to 4.7× energy savings "
        "while maintaining comparable or even better accuracy\". The paper's signature figure is the pairwise "
        "mask-distance matrix of one training run (its figure number is not in our reference notes, so we cite none); "
        "**Figure 1** below is ours. Their masks are *channel* masks (network slimming) of VGG-16 and PreResNet-101 "
        "on CIFAR; see the [VGG-16 page](earlybird_vgg16.ipynb).\n\n"
        "**This page is our transfer, not the paper's experiment.** We apply the paper's rule to LeNet-300-100 on "
        "MNIST with *unstructured* magnitude masks, the masks of the LTH chapters: every 100 iterations of the dense "
        "run we compute the one-shot layer-wise magnitude mask at the densities of the tickets we compare with (Pm "
        "51.3%, 21.1%, 7.0%: 3, 7 and 12 IMP levels), keep the last 5 masks and draw the ticket as soon as the newest "
        "is within ε = 0.1 (normalised Hamming distance) of each of the 4 before it. The drawn mask is reset to θ0 "
        "and retrained for the full schedule (variant `reset`), beside the one-shot ticket drawn at the end of the "
        "same run and the IMP ticket of the same density from the LTH LeNet run of the same profile."),
    cost=(
        "**Why the normalisation of the distance matters for ε.** Two masks that each prune a fraction p of N weights "
        "differ in at most 2·min(p, 1−p)·N entries, so the normalised Hamming distance can never exceed 2·min(p, "
        "1−p). For LeNet at Pm 7.0% (p = 0.93) that maximum is 0.14: the paper's ε = 0.1 then accepts masks that "
        "share only about a third of their kept weights, and the rule fires almost at once. At Pm 51.3% (p ≈ 0.49) "
        "the maximum is 0.97 and ε = 0.1 is a strict test. The paper's channel ratios (30–70%) have maxima of "
        "0.6–1.0, where ε = 0.1 means much the same thing at every ratio; our sparse LeNet masks do not. The column "
        "\"ε × max distance\" applies the same rule to distances divided by their maximum, so ε means the same "
        "fraction of \"completely different\" at every density, and that ticket (`eb_rel`) is retrained too (a ticket "
        "drawn at the same iteration as another is the same run and is not trained twice).\n\n"
        "**Training cost** counts multiply-accumulates of the forward pass of one example (one per kept weight: the "
        "*sparse* count, which dense kernels do not realise), times the iterations trained, relative to one full "
        "dense training: early-bird = draw iteration × dense + full retraining × density; end-of-training one-shot = "
        "1 + density; IMP at level n = the sum of the densities of levels 0…n (every level trains for the full "
        "schedule). Computing the masks (sorting) is not counted."),
    end=(
        "**What is ours and what is the paper's.** The rule (queue of 5 masks, ε = 0.1, normalised Hamming distance, "
        "check once per recorded mask starting with the untrained network's) is the authors' code (`main.py`, "
        "`EarlyBird`; tag C). Everything else on this page is ours: unstructured layer-wise magnitude masks instead "
        "of channel masks, a mask every 100 iterations instead of every epoch, LeNet on MNIST, reset to θ0 (LTH) "
        "instead of continuing, the distance normalised by its maximum, and the \"comparable accuracy\" threshold (EB "
        "at most 0.5 points below the end-of-training ticket at early stop, fixed before the budget run). The paper's "
        "headline (tag T) is about channel pruning of CIFAR networks, so a \"no\" here does not contradict it and a "
        "\"yes\" does not confirm it: it says whether the idea transfers."))
PAGES["earlybird_vgg16"] = eb_page(
    "vgg16-eb", seeds="[0]", imp="None", gpu=", gpu_pending=True",
    claim=(
        "# Early-bird tickets: VGG-16 channel pruning on CIFAR-10\n\n"
        "**Claim** (You et al., *Drawing Early-Bird Tickets*, ICLR 2020, abstract and §3–4): with network slimming "
        "(an L1 penalty on batch-norm scales γ, channels kept above one global |γ| threshold), the channel mask of "
        "VGG-16 stops changing early in training (the paper's pairwise mask-distance figure; **Figure 1** below is "
        "ours), so the ticket can be drawn after a few epochs and retrained, for \"up to 4.7× energy savings while "
        "maintaining comparable or even better accuracy\".\n\n"
        "**Protocol** (authors' code and scripts, `followup-numbers.md` §3, tag C): VGG-16 with batch norm, 160 "
        "epochs of batch 256, SGD momentum 0.9, lr 0.1 ×0.1 at epochs 80 and 120, weight decay 1e-4, γ.grad += "
        "10⁻⁴·sign(γ); after each epoch the mask at p = 30%, 50%, 70% of the 4,224 channels; the ticket is drawn when "
        "the newest mask is within ε = 0.1 of each of the 4 before it. Our channel mask removes exactly ⌊4,224·p⌋ "
        "channels (1,267 / 2,112 / 2,956), ties broken by position; the authors' `|γ| > y[⌊N·p⌋]` (`gt`) removes one "
        "more and every channel tied at the threshold — at initialisation, where every γ is 1, it removes all of "
        "them. A removed channel has γ and β fixed at 0, so nothing of it reaches the next layer. We hold out 5,000 "
        "training images for validation, so an epoch is 175 iterations. **CIFAR-10 test set:** `../shared/data` holds "
        "only the first 1,017 official test images, so every test accuracy here is *test accuracy on 1,017 official "
        "test images*.\n\n"
        "**Retraining variants.** `eb-continue`: the dense weights and batch-norm statistics at the draw epoch, "
        "masked, trained for the remaining epochs with the schedule continued — what the paper describes. The "
        "authors' CIFAR `main_c.py` loads only the channel configuration of that checkpoint, so as written it trains "
        "a *freshly initialised* pruned network over those epochs; we do not run that variant. `eb-reset` and "
        "`end-reset`: the early-bird and the end-of-training masks on θ0 of the same run, trained for the full "
        "schedule (like the authors' `main_scratch.py`, with θ0 instead of a new initialisation)."),
    cost=(
        "**Training cost** counts multiply-accumulates of the forward pass (convolutions with removed channels taken "
        "out of both their input and output, and the linear head) times the iterations trained, relative to the full "
        "dense protocol; for `eb-continue`: draw epoch × dense + remaining epochs × pruned; for `reset` tickets: the "
        "search up to their draw + 160 epochs of the pruned network."),
    end=(
        "**Pending a GPU run.** No GPU was available when this page was built: it shows a CPU smoke run of the "
        "pipeline only. The budget run (40 of the 160 epochs, milestones at epochs 20 and 30, seed 0; what is cut is "
        "stated in `lthrepro/core/presets.py::BUDGET`) is\n\n"
        "```bash\n"
        "python -m lthrepro earlybird vgg16-eb --profile budget --device cuda\n"
        "python -m lthrepro notebooks --profile budget --only eb_vgg16 --device cuda\n"
        "```\n\n"
        "and the paper's protocol is the same command with `--profile paper`. Estimate (not measured on a GPU): a "
        "VGG-16 training epoch of 45,000 CIFAR images is about 45,000 × 3 × 0.31 GMAC ≈ 42 TMAC; at an effective "
        "20–40 TFLOP/s for our grouped fp32 kernels that is 2–4 s per network-epoch, plus evaluation. The budget run "
        "trains 1 dense network for 40 epochs and 9 pruned ones (3 ratios × 3 tickets, masked rather than physically "
        "smaller, so each costs a dense epoch) for up to 40 epochs: about 400 network-epochs, 15–30 min; the paper "
        "profile is 4× that, 1–2 h."))
