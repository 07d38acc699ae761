"""The figure catalogue: which runs (preset, variant, config fields) make each page of the book,
and the papermill parameters a page is executed with under a profile.

Read by the ``run FIGURE`` and ``plan`` commands (what to train) and by the notebook executor
(``book/execute.py``: what to inject), so neither reaches into the other (issue 24).
"""

from __future__ import annotations

from lthrepro.core import config as cfgmod
from lthrepro.core import presets

# Where the book's smoke-profile pages read their results (committed, separate from the real
# results in ``results/`` so a smoke number can never be mistaken for a result).
SMOKE_RESULTS = "results-smoke"

# On 2 shared CPU cores the smoke presets of the CIFAR nets still take tens of minutes per
# figure (a Conv-2 smoke member costs ~3 min), so CPU smoke runs of those figures shrink the data
# and schedule further. These pages only show that the pipeline runs; they are not results.
CPU_SMOKE: dict[str, dict] = {
    "conv": {"iterations": 40, "eval_every": 10, "train_limit": 400, "val_size": 200,
             "test_limit": 200, "batch_size": 20, "levels": 1},
    "big": {"iterations": 10, "eval_every": 5, "train_limit": 160, "val_size": 100,
            "test_limit": 100, "batch_size": 8, "levels": 1},
}
# VGG-19 costs ~6 min per member even at that size on the shared CPU: its smoke page shows the
# dense level of each learning-rate setting only.
CPU_SMOKE["vgg"] = {**CPU_SMOKE["big"], "levels": 0}
# Early-bird VGG-16 (You et al.): 6 "epochs" of 2 steps (8 training images, batch 4), one mask per
# epoch, so the detector (5 masks) has something to watch; lr drops at epochs 3 and 4.5. A VGG-16
# step is slow on the shared CPU, so the data are tiny: this only shows that the pipeline runs.
CPU_SMOKE["eb"] = {"iterations": 12, "eval_every": 2, "milestones": [6, 9], "train_limit": 8,
                   "val_size": 10, "test_limit": 10, "batch_size": 4}

# figure key -> notebook file, the (preset, variant, extra config) runs it reads, smoke family.
FIGURES: dict[str, dict] = {
    "fig01": {"file": "fig01_lenet_random_sparse.ipynb", "family": None,
              "runs": [("lenet", None, {"random_prune": "fig1"})]},
    "fig03": {"file": "fig03_lenet_training_curves.ipynb", "family": None,
              "runs": [("lenet", None, {})]},
    "fig04": {"file": "fig04_lenet_pruning.ipynb", "family": None,
              "runs": [("lenet", None, {"oneshot": True})]},
    "fig05": {"file": "fig05_conv.ipynb", "family": "conv",
              "runs": [(p, None, {}) for p in ("conv2", "conv4", "conv6")]},
    "fig06": {"file": "fig06_conv_dropout.ipynb", "family": "conv",
              "runs": [(p, v, {}) for p in ("conv2", "conv4", "conv6") for v in (None, "dropout")]},
    "fig07": {"file": "fig07_vgg19.ipynb", "family": "vgg",
              "runs": [("vgg19", v, {}) for v in (None, "lr0.01", "warmup10k")]},
    "fig08": {"file": "fig08_resnet18.ipynb", "family": "big",
              "runs": [("resnet18", v, {}) for v in (None, "lr0.01", "lr0.03-warmup20k")]},
    # Early-bird tickets (You et al. 2020): results in earlybird-<preset>-<hash> (earlybird.py).
    "eb_lenet": {"file": "earlybird_lenet.ipynb", "family": None, "runs": [("lenet", None, {})],
                 "earlybird": "lenet"},
    "eb_vgg16": {"file": "earlybird_vgg16.ipynb", "family": "eb", "runs": [("vgg16-eb", None, {})],
                 "earlybird": "vgg16-eb"},
}
# The stability chapter (LMC / STAB, stability.py): one stability run per page, keyed by preset.
FIGURES.update({f"stab_{name}": {"file": f"stab_{name}.ipynb", "family": fam, "runs": [], "stability": preset}
                for name, fam, preset in (("lenet_instability", None, "lenet"), ("lenet_paths", None, "lenet"),
                                          ("lenet_rewinding", None, "lenet"), ("resnet20", "big", "resnet20_lmc"),
                                          ("vgg16", "big", "vgg16_lmc"))})

# Figures made of lottery runs: what ``plan`` and ``run FIGURE`` take (issue 14).
PLANNED = [k for k, f in FIGURES.items() if f["runs"] and not f.get("earlybird")]

# Pages that only have smoke results in this repository (no GPU run yet, LTH §3-4 nets).
SMOKE_ONLY = ("fig05", "fig06", "fig07", "fig08", "stab_resnet20", "stab_vgg16")


# The supermask chapter's pages (Zhou et al. 2019, ``lthrepro.experiments.supermask``): notebook files. Their
# parameters add PRESET; SEEDS defaults to the DLT profile's own seeds.
DLT_PAGES: dict[str, str] = {k: f"{k}.ipynb" for k in ("dlt_criteria", "dlt_mask1", "dlt_mask0", "dlt_supermasks")}


def parameters(key: str, profile: str, device: str = "cpu", results_dir: str | None = None,
               cpu_smoke: bool = True, executor: str = "local") -> dict:
    """Papermill parameters for one figure under ``profile``."""
    if key in DLT_PAGES:
        from lthrepro.experiments.supermask import dlt_config
        return {"PRESET": "lenet", "PROFILE": profile, "SEEDS": list(dlt_config("lenet", profile).seeds),
                "DEVICE": device, "RESULTS_DIR": results_dir or (SMOKE_RESULTS if profile == "smoke" else "results"),
                "OVERRIDES": {}}
    fig = FIGURES[key]
    over = dict(CPU_SMOKE[fig["family"]]) if (profile == "smoke" and fig["family"] and cpu_smoke
                                              and device == "cpu") else {}
    if fig.get("stability"):
        from lthrepro.experiments import stability
        seeds = list(stability.make(fig["stability"], profile)[1].seeds)
    else:
        seeds = list(presets.make_config(fig["runs"][0][0], profile).seeds)
    if results_dir is None:
        results_dir = SMOKE_RESULTS if profile == "smoke" else "results"
    params = {"PROFILE": profile, "SEEDS": seeds, "DEVICE": device, "RESULTS_DIR": results_dir,
              "OVERRIDES": over}
    if key in PLANNED and executor != "local":  # lottery pages train missing runs on Ray (issue 14);
        params["EXECUTOR"] = executor  # local is the notebooks' default: pages' commands stay as they are
    return params


def configs(key: str, params: dict) -> list[cfgmod.Config]:
    """The configs a figure's notebook reads under ``params`` (as the notebook builds them)."""
    prof = params["PROFILE"]
    return [presets.make_config(p, prof, v, seeds=tuple(params["SEEDS"]),
                                **{**{k: presets.FIG1_RANDOM_PER_TRIAL[prof] if x == "fig1" else x
                                      for k, x in extra.items()}, **params["OVERRIDES"]})
            for p, v, extra in FIGURES[key]["runs"]]


def figure_configs(key: str, profile: str, device: str = "cpu", seeds=None, **over) -> list[cfgmod.Config]:
    """The configs figure ``key``'s notebook reads under ``profile`` (for ``plan`` and ``run``)."""
    if key not in FIGURES:
        raise cfgmod.ConfigError(f"unknown figure '{key}'; choose from {', '.join(FIGURES)}")
    if key not in PLANNED:
        raise cfgmod.ConfigError(f"'{key}' is a stability or early-bird page (its own runner), not planned or run "
                                 f"by figure; choose from {', '.join(PLANNED)}")
    params = parameters(key, profile, "cpu" if device.startswith("cpu") else device)
    if seeds is not None:
        params["SEEDS"] = list(seeds)
    params["OVERRIDES"] = {**params["OVERRIDES"], **over}
    return configs(key, params)


def notebook_file(key: str) -> str:
    return DLT_PAGES[key] if key in DLT_PAGES else FIGURES[key]["file"]


def figure_key(stem: str) -> str | None:
    """The ``FIGURES`` key of a book page (None for pages that are not figures)."""
    return next((k for k, f in FIGURES.items() if f["file"] == f"{stem}.ipynb"), None)
